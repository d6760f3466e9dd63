// @ts-check
/*
 * h264.js — the H.264 player: /api/streamer/h264 access units decoded by WebCodecs' VideoDecoder
 * and drawn on a canvas.
 *
 * Each binary message is one access unit with a 24-byte header (docs/api.md): version,
 * flags (bit 0 keyframe, bit 1 keep-alive), sequence, capture time (unix µs), width,
 * height. The decoder is configured from the first keyframe's SPS (profile, constraints and
 * level make the codec string), in Annex-B mode, with optimizeForLatency. A decoder error
 * or a gap in the sequence asks the server for a keyframe and waits for it; nothing is
 * queued on our side either: a frame is drawn as soon as it is decoded, unless a newer one is
 * already in the decoder (the page fell behind: a slow machine, a busy tab): then only the
 * newest is drawn, so decoded frames never pile up behind the drawing.
 *
 * Drawing is drawImage (a browser that draws with its GPU hands the frame to the GPU).
 * Without one (software rendering: no GPU, a blocklisted driver, a VM) Chromium's drawImage
 * of a 1080p frame took 40-140 ms on the project's build machine, against about 4 ms for
 * VideoFrame.copyTo into RGBA plus putImageData; so after a few slow draws in a row the
 * player draws that way instead, for the rest of the page's life (reconnects included).
 *
 * H264Player.supported() says whether this browser can play it (VideoDecoder exists, the
 * page is a secure context, and the codec is supported); the console falls back to MJPEG
 * otherwise. Its state lines (onState) are for people: in the user's language.
 */

import { t, formatNumber } from './i18n.js';

const HEADER = 24;
const FLAG_KEY = 1;
const FLAG_ALIVE = 2;
/* A level-4.2 constrained baseline stream: what the device's encoders make for 1080p60. */
const PROBE_CODEC = 'avc1.42E02A';
/* A drawImage slower than a frame at 60 fps, SLOW_DRAWS times in a row: draw by copyTo. */
const SLOW_DRAW_MS = 16;
const SLOW_DRAWS = 3;
/* Found once per page: a later player (after a reconnect) draws by copyTo from the start. */
let drawByCopy = false;

/** @param {number} n */
function hex2(n) {
  return n.toString(16).padStart(2, '0').toUpperCase();
}

/**
 * The codec string of a keyframe from its SPS NAL unit (type 7), or null.
 * @param {Uint8Array} bytes
 * @returns {string | null}
 */
export function codecFromAnnexB(bytes) {
  for (let i = 0; i + 4 < bytes.length; i++) {
    if (bytes[i] === 0 && bytes[i + 1] === 0 && bytes[i + 2] === 1 && (bytes[i + 3] & 0x1f) === 7) {
      if (i + 7 > bytes.length) return null;
      return `avc1.${hex2(bytes[i + 4])}${hex2(bytes[i + 5])}${hex2(bytes[i + 6])}`;
    }
  }
  return null;
}

/** @param {ArrayBuffer} buf an access unit's message */
export function parseHeader(buf) {
  const v = new DataView(buf);
  return {
    version: v.getUint8(0),
    flags: v.getUint8(1),
    seq: v.getUint32(4, true),
    captureUs: Number(v.getBigInt64(8, true)),
    width: v.getUint16(16, true),
    height: v.getUint16(18, true),
  };
}

/**
 * What the player measured: frames and bytes, the newest capture-to-screen latency (null
 * without a clock offset), the picture's size, and rates over the last second.
 * @typedef {{frames: number, bytes: number, latencyMs: number | null, width: number,
 *   height: number, fps: number, kbps: number}} H264Stats
 */

/**
 * @typedef {object} H264Options
 * @property {() => number | null} [clockOffsetMs] server clock minus ours (from the event
 *   socket's ping)
 * @property {(stats: H264Stats) => void} [onStats]
 * @property {(text: string) => void} [onState] a line for the user about the stream
 */

export class H264Player {
  static async supported() {
    if (typeof window.VideoDecoder !== 'function' || !window.isSecureContext) return false;
    try {
      const r = await VideoDecoder.isConfigSupported({ codec: PROBE_CODEC, optimizeForLatency: true });
      return Boolean(r.supported);
    } catch {
      return false;
    }
  }

  /**
   * @param {HTMLCanvasElement} canvas where frames are drawn
   * @param {H264Options} [opts]
   */
  constructor(canvas, opts = {}) {
    this.canvas = canvas;
    this.ctx2d = canvas.getContext('2d', { alpha: false, desynchronized: true });
    this.opts = opts;
    /** @type {WebSocket | null} */
    this.ws = null;
    /** @type {VideoDecoder | null} */
    this.decoder = null;
    /** @type {string | null} */
    this.codec = null;
    /** @type {number | null} */
    this.expectSeq = null;
    this.waitKey = true;
    this.stopped = true;
    this.retry = 500;
    /** @type {H264Stats} */
    this.stats = { frames: 0, bytes: 0, latencyMs: null, width: 0, height: 0, fps: 0, kbps: 0 };
    this.window = { start: performance.now(), frames: 0, bytes: 0 };
    /** @type {Map<number, number>} chunk timestamp -> capture wall-clock ms */
    this.pending = new Map();
    /** access units given to the decoder that have not come out yet */
    this.inDecoder = 0;
    /** @type {VideoFrame | null} decoded, not drawn: a newer one was in the decoder */
    this.next = null;
    this.nextTimer = 0;
    this.slowDraws = 0;
    /** draw by VideoFrame.copyTo(RGBA) and putImageData instead of drawImage */
    this.copyDraw = drawByCopy;
    /** a copyTo is under way: decoded frames wait in `next` meanwhile */
    this.copying = false;
    /** @type {Uint8ClampedArray<ArrayBuffer> | null} */
    this.rgba = null;
    /** +1 when the decoder closes: a copy that finishes later is not drawn */
    this.generation = 0;
  }

  start() {
    this.stopped = false;
    this.#connect();
  }

  stop() {
    this.stopped = true;
    if (this.ws) this.ws.close();
    this.ws = null;
    this.#closeDecoder();
  }

  #connect() {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/streamer/h264`;
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.waitKey = true;
    this.expectSeq = null;
    ws.onopen = () => {
      this.retry = 500;
      this.#state(t('video.h264_waiting'));
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') this.#onUnit(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.#closeDecoder();
      if (this.stopped) return;
      if (ev.code === 4001) {
        this.#state(t('video.h264_ended'));
        return;
      }
      this.#state(t('video.h264_retry', { seconds: formatNumber(Math.round(this.retry / 1000)) }));
      window.setTimeout(() => !this.stopped && this.#connect(), this.retry);
      this.retry = Math.min(this.retry * 2, 10000);
    };
  }

  /** @param {string} text */
  #state(text) {
    if (this.opts.onState) this.opts.onState(text);
  }

  #askKeyframe() {
    this.waitKey = true;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ event: 'keyframe' }));
  }

  #closeDecoder() {
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    this.decoder = null;
    this.codec = null;
    this.pending.clear();
    this.inDecoder = 0;
    this.generation += 1;
    this.#dropNext();
  }

  #dropNext() {
    if (this.next) {
      this.pending.delete(this.next.timestamp);
      this.next.close();
    }
    this.next = null;
    window.clearTimeout(this.nextTimer);
  }

  /** @param {string} codec */
  #ensureDecoder(codec) {
    if (this.decoder && this.codec === codec && this.decoder.state === 'configured') return true;
    this.#closeDecoder();
    this.decoder = new VideoDecoder({
      output: (frame) => this.#decoded(frame),
      error: (err) => {
        this.#state(t('video.h264_decoder_error', { message: err.message }));
        this.#closeDecoder();
        this.#askKeyframe();
      },
    });
    this.decoder.configure({ codec, optimizeForLatency: true });
    this.codec = codec;
    return true;
  }

  /** @param {ArrayBuffer} buf */
  #onUnit(buf) {
    if (buf.byteLength < HEADER) return;
    const h = parseHeader(buf);
    if (h.version !== 1) return;
    if (h.flags & FLAG_ALIVE) { /* a still screen: the rates fall to zero */
      this.#roll();
      return;
    }
    const key = (h.flags & FLAG_KEY) !== 0;
    if (!key && (this.waitKey || (this.expectSeq !== null && h.seq !== this.expectSeq))) {
      if (!this.waitKey) this.#askKeyframe(); /* a gap: the picture would be wrong */
      return;
    }
    const data = new Uint8Array(buf, HEADER);
    if (key) {
      const codec = codecFromAnnexB(data);
      if (!codec) return;
      this.#ensureDecoder(codec);
      this.waitKey = false;
    }
    if (!this.decoder) return;
    this.expectSeq = (h.seq + 1) >>> 0;
    const ts = h.seq * 1000;
    this.pending.set(ts, h.captureUs / 1000);
    const oldest = this.pending.keys().next();
    if (this.pending.size > 64 && !oldest.done) this.pending.delete(oldest.value);
    this.decoder.decode(new EncodedVideoChunk({ type: key ? 'key' : 'delta', timestamp: ts, data }));
    this.inDecoder += 1;
    this.window.bytes += data.byteLength;
  }

  /**
   * Drawn now, or kept while a newer frame is in the decoder or a copy is under way (a newer
   * frame replaces it). Should the decoder never give that one out, the kept frame is drawn
   * after a short while.
   * @param {VideoFrame} frame
   */
  #decoded(frame) {
    this.inDecoder = Math.max(0, this.inDecoder - 1);
    this.#dropNext();
    this.next = frame;
    if (this.inDecoder === 0) this.#drawNext();
    else this.nextTimer = window.setTimeout(() => this.#drawNext(), 100);
  }

  /* Draws the kept frame, unless a copy is under way (it draws the kept one when done). */
  #drawNext() {
    window.clearTimeout(this.nextTimer);
    const frame = this.next;
    if (this.copying || !frame) return;
    this.next = null;
    this.#draw(frame);
  }

  /** @param {VideoFrame} frame */
  #draw(frame) {
    const w = frame.displayWidth;
    const hgt = frame.displayHeight;
    if (this.canvas.width !== w || this.canvas.height !== hgt) {
      this.canvas.width = w;
      this.canvas.height = hgt;
    }
    if (this.ctx2d && this.copyDraw) {
      this.#copyDraw(frame, this.ctx2d);
      return;
    }
    if (this.ctx2d) {
      const t0 = performance.now();
      this.ctx2d.drawImage(frame, 0, 0);
      this.slowDraws = performance.now() - t0 > SLOW_DRAW_MS ? this.slowDraws + 1 : 0;
      if (this.slowDraws >= SLOW_DRAWS) this.copyDraw = drawByCopy = true;
    }
    this.#drawn(frame);
  }

  /**
   * The frame converted to RGBA by the browser (VideoFrame.copyTo), then put on the canvas.
   * A browser whose copyTo does not convert (one plane out) goes back to drawImage.
   * @param {VideoFrame} frame
   * @param {CanvasRenderingContext2D} ctx
   */
  #copyDraw(frame, ctx) {
    const w = frame.displayWidth;
    const hgt = frame.displayHeight;
    if (!this.rgba || this.rgba.length !== w * hgt * 4) this.rgba = new Uint8ClampedArray(w * hgt * 4);
    const rgba = this.rgba;
    const generation = this.generation;
    this.copying = true;
    frame.copyTo(rgba, { format: 'RGBA' }).then((layout) => {
      if (generation !== this.generation) {
        frame.close();
        return;
      }
      if (layout.length !== 1) {
        this.copyDraw = drawByCopy = false;
        this.slowDraws = 0;
        ctx.drawImage(frame, 0, 0);
      } else {
        ctx.putImageData(new ImageData(rgba, w, hgt), 0, 0);
      }
      this.#drawn(frame);
    }, () => {
      this.copyDraw = drawByCopy = false;
      this.slowDraws = 0;
      if (generation !== this.generation) {
        frame.close();
        return;
      }
      ctx.drawImage(frame, 0, 0);
      this.#drawn(frame);
    }).finally(() => {
      this.copying = false;
      this.#drawNext();
    });
  }

  /**
   * A frame is on the canvas: statistics; the frame is closed.
   * @param {VideoFrame} frame
   */
  #drawn(frame) {
    const capture = this.pending.get(frame.timestamp);
    this.pending.delete(frame.timestamp);
    const s = this.stats;
    s.frames += 1;
    s.width = frame.displayWidth;
    s.height = frame.displayHeight;
    frame.close();
    const offset = this.opts.clockOffsetMs ? this.opts.clockOffsetMs() : null;
    if (capture !== undefined && offset !== null) s.latencyMs = Math.max(0, Date.now() + offset - capture);
    else s.latencyMs = null;
    this.window.frames += 1;
    this.#roll();
    this.#state('');
  }

  /* Rates over the last second or so; reports the stats. */
  #roll() {
    const s = this.stats;
    const now = performance.now();
    const span = now - this.window.start;
    if (span >= 1000) {
      s.fps = (this.window.frames * 1000) / span;
      s.kbps = (this.window.bytes * 8) / span;
      this.window = { start: now, frames: 0, bytes: 0 };
    }
    if (this.opts.onStats) this.opts.onStats(s);
  }
}
