// @ts-check
/*
 * app.js — the console's shared state: one App object, every field declared here.
 *
 * console.js creates the App, keeps it current from the API and the event socket, and hands
 * it to the parts of the page that need it (menus, dialogs) through their constructors. The
 * parts read it and ask it the common questions (has this backend? may this user control?);
 * only console.js writes it. Nothing else is shared between modules: a part that needs
 * something more gets it as a constructor argument, never through a global.
 *
 * The typedefs below are the shapes of the device's answers that the console reads
 * (docs/api.md has them whole).
 */

import { EventSocket } from './api.js';

/** @typedef {'admin' | 'operator' | 'viewer'} Role */
/** @typedef {{name: string, role: Role}} User */

/**
 * GET /api/info.
 * @typedef {object} Info
 * @property {string} [hostname]
 * @property {string} [version]
 * @property {number} [uptime] seconds
 * @property {User} [user]
 * @property {Record<string, string>} [backends] e.g. {video: 'virtual', msd: 'none'}
 * @property {string[]} [features] e.g. 'streamer.h264'
 */

/**
 * The video signal of GET /api/streamer.
 * @typedef {object} Signal
 * @property {string} [state] ok, no_signal, …
 * @property {string} [reason]
 * @property {number} [width]
 * @property {number} [height]
 * @property {number} [fps]
 * @property {string} [capture] the capture hardware: hdmi (a V4L2 bridge), usb (a UVC dongle),
 *   virtual, pattern
 */

/**
 * GET /api/streamer and the `streamer` event.
 * @typedef {object} StreamerState
 * @property {Signal} [signal]
 * @property {number} [encoded_fps]
 * @property {number} [capture_fps]
 * @property {number} [bytes_per_s]
 * @property {number} [clients]
 * @property {number} [quality]
 * @property {number} [max_fps]
 * @property {{bitrate?: number, bytes_per_s?: number} | null} [h264]
 */

/**
 * GET /api/hid and the `hid` event.
 * @typedef {object} HidState
 * @property {string} [output]
 * @property {boolean} [online]
 * @property {string} [reason]
 * @property {Record<string, boolean>} [leds] num, caps, scroll, …
 * @property {string[]} [pressed]
 * @property {'absolute' | 'relative'} [mouse_mode]
 * @property {{interval: number}} [jiggler]
 */

/** @typedef {{rtt: number, offset: number}} Clock the event socket's clock measurement */
/** @typedef {{fps: number}} H264Stats what the H.264 player measured */

export class App {
  /** @type {Info | null} GET /api/info, as last read */
  info = null;
  /** performance.now() when info.uptime was read */
  infoAt = 0;
  /** @type {User | null} */
  me = null;
  /** @type {Record<string, string>} backend kind -> its driver, 'none' when absent */
  backends = {};
  /** The event socket (/api/ws): events in, binary input out. Started by console.js. */
  socket = new EventSocket();
  /** A hello came on this page already (the next one is a reconnect). */
  sawHello = false;
  /** The session ended here (logout): nothing may reconnect. */
  ended = false;
  /** @type {StreamerState | null} */
  streamer = null;
  /** @type {HidState | null} */
  hid = null;
  /** @type {Clock | null} */
  clock = null;
  /** @type {number | null} measured capture-to-screen latency, ms */
  videoLatency = null;
  /** performance.now() of videoLatency */
  videoLatencyAt = 0;
  /** @type {H264Stats | null} */
  h264Stats = null;

  /**
   * Whether the device has this backend (GET /api/info backends).
   * @param {string} backend video, hid, atx, msd
   */
  has(backend) {
    return Boolean(this.backends[backend]) && this.backends[backend] !== 'none';
  }

  /** The user may act on the target (operator or admin). */
  isOperator() {
    return Boolean(this.me) && this.me?.role !== 'viewer';
  }

  /** May act on the device now: an operator, with the event connection up. */
  canAct() {
    return this.isOperator() && this.socket.connected;
  }

  /** May send keyboard and mouse input now. */
  canControl() {
    return this.canAct() && this.has('hid');
  }

  /** @returns {'absolute' | 'relative'} */
  mouseMode() {
    return this.hid && this.hid.mouse_mode === 'relative' ? 'relative' : 'absolute';
  }
}
