// @ts-check
/*
 * videomenu.js — the Video menu: the codec this browser shows (MJPEG, or H.264 where the
 * device and the browser can), the device's stream settings (H.264 bitrate, JPEG quality,
 * frame rate), a snapshot download and fullscreen.
 *
 * The codec is this browser's choice (remembered here); the stream settings are the
 * device's (POST /api/streamer/params) and follow the `streamer` state, so every console
 * shows the same. Values the lists lack (set through the API) are added as they come.
 */

import { apiPost } from './api.js';
import { H264Player } from './h264.js';
import { el, setText, describeError, toast } from './ui.js';
import { Menu, menuItem, menuSelect, menuSep } from './menus.js';

const CODEC_KEY = 'ipkvm.codec';

/** @type {readonly import('./menus.js').Option[]} */
const CODECS = [['mjpeg', 'MJPEG'], ['h264', 'H.264 (WebCodecs)']];
/** @type {readonly import('./menus.js').Option[]} */
const BITRATES = [['500', '0.5 Mbit/s'], ['1000', '1 Mbit/s'], ['2000', '2 Mbit/s · default'],
  ['4000', '4 Mbit/s'], ['8000', '8 Mbit/s']];
/** @type {readonly import('./menus.js').Option[]} */
const QUALITIES = [['30', '30 · low bandwidth'], ['50', '50'], ['70', '70'], ['80', '80 · default'],
  ['90', '90'], ['100', '100 · best']];
/** @type {readonly import('./menus.js').Option[]} */
const FRAME_RATES = [['5', '5 fps'], ['10', '10 fps'], ['15', '15 fps'], ['30', '30 fps'], ['60', '60 fps']];

/**
 * Selects `value`, adding an option for it when the list does not have it.
 * @param {HTMLSelectElement} select
 * @param {number} value
 */
function setSelect(select, value) {
  const v = String(value);
  if (![...select.options].some((o) => o.value === v)) select.append(el('option', { value: v, text: v }));
  if (select.value !== v && document.activeElement !== select) select.value = v;
}

export class VideoMenu extends Menu {
  /**
   * @param {{app: import('./app.js').App, video: import('./video.js').VideoView,
   *   stage: HTMLElement, screen: HTMLElement,
   *   onStreamer: (state: import('./app.js').StreamerState) => void}} deps
   *   stage: what fullscreen shows; screen: focused in fullscreen; onStreamer: the device's
   *   answer, a new `streamer` state, to show everywhere
   */
  constructor({ app, video, stage, screen, onStreamer }) {
    super({ id: 'video', label: 'Video' });
    this.app = app;
    this.video = video;
    this.stage = stage;
    this.screen = screen;
    this.onStreamer = onStreamer;
    const codec = menuSelect({ id: 'video-codec', label: 'Codec', options: CODECS });
    const bitrate = menuSelect({ id: 'video-bitrate', label: 'H.264 bitrate', options: BITRATES });
    const quality = menuSelect({ id: 'video-quality', label: 'JPEG quality', options: QUALITIES });
    const fps = menuSelect({ id: 'video-fps', label: 'Max frame rate', options: FRAME_RATES });
    this.codec = codec.select;
    this.bitrate = bitrate.select;
    this.quality = quality.select;
    this.fps = fps.select;
    this.snapshot = el('a', {
      class: 'menu-item', id: 'btn-snapshot', href: '/api/streamer/snapshot', download: 'screenshot.jpg',
      text: 'Download snapshot',
    });
    this.fullscreen = menuItem({ id: 'btn-fullscreen', label: 'Fullscreen' });
    this.panel.append(codec.row, bitrate.row, quality.row, fps.row, menuSep(), this.snapshot, this.fullscreen);

    this.quality.addEventListener('change', () => this.#params({ quality: Number(this.quality.value) }));
    this.bitrate.addEventListener('change', () => this.#params({ h264_bitrate: Number(this.bitrate.value) }));
    this.fps.addEventListener('change', () => this.#params({ max_fps: Number(this.fps.value) }));
    this.codec.addEventListener('change', () => {
      this.video.setCodec(this.codec.value === 'h264' ? 'h264' : 'mjpeg');
      try {
        window.localStorage.setItem(CODEC_KEY, this.codec.value);
      } catch {
        /* private mode: the choice lasts for this page only */
      }
      if (this.app.streamer) this.onStreamer(this.app.streamer);
    });
    this.snapshot.addEventListener('click', (ev) => {
      if (!this.app.has('video')) {
        ev.preventDefault();
        return;
      }
      const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
      this.snapshot.download = `${(this.app.info && this.app.info.hostname) || 'ipkvm'}-${stamp}.jpg`;
    });
    this.fullscreen.addEventListener('click', () => this.#toggleFullscreen());
    document.addEventListener('fullscreenchange', () => {
      const full = Boolean(document.fullscreenElement);
      setText(this.fullscreen, full ? 'Leave fullscreen' : 'Fullscreen');
      const kb = keyboardLock();
      if (!full && kb) kb.unlock();
    });
  }

  /**
   * H.264 where the device offers it and this browser decodes it (WebCodecs, secure
   * context), as the user last chose; MJPEG otherwise.
   * @param {boolean} deviceHas the device has the H.264 stream (feature streamer.h264)
   */
  async setupCodec(deviceHas) {
    const h264 = /** @type {HTMLOptionElement} */ (this.codec.querySelector('option[value="h264"]'));
    const ok = deviceHas && (await H264Player.supported());
    h264.disabled = !ok;
    h264.textContent = ok ? 'H.264 (WebCodecs)' : `H.264 (${deviceHas ? 'not supported by this browser' : 'off on this device'})`;
    let want = 'mjpeg';
    try {
      want = window.localStorage.getItem(CODEC_KEY) || 'mjpeg';
    } catch {
      want = 'mjpeg';
    }
    this.codec.value = ok && want === 'h264' ? 'h264' : 'mjpeg';
    this.video.setCodec(this.codec.value === 'h264' ? 'h264' : 'mjpeg');
  }

  /** @override */
  render() {
    const video = this.app.has('video');
    const usable = this.app.isOperator() && video;
    for (const select of [this.bitrate, this.quality, this.fps]) select.disabled = !usable;
    this.snapshot.classList.toggle('menu-item-disabled', !video);
    if (video) this.snapshot.setAttribute('href', '/api/streamer/snapshot');
    else this.snapshot.removeAttribute('href');
    this.fullscreen.disabled = !video;
    const st = this.app.streamer;
    if (!st) return;
    if (st.h264 && st.h264.bitrate) setSelect(this.bitrate, st.h264.bitrate);
    if (st.quality) setSelect(this.quality, st.quality);
    if (st.max_fps) setSelect(this.fps, st.max_fps);
  }

  /** @param {object} body */
  async #params(body) {
    try {
      this.onStreamer(await apiPost('/api/streamer/params', body));
    } catch (err) {
      toast(`Could not change the video settings: ${describeError(err)}`, 'error');
    }
  }

  async #toggleFullscreen() {
    if (document.fullscreenElement) {
      await document.exitFullscreen().catch(() => {});
      return;
    }
    // The workspace, not just the picture: the on-screen keyboard and messages stay usable.
    try {
      await this.stage.requestFullscreen({ navigationUI: 'hide' });
    } catch {
      toast('The browser did not allow fullscreen.', 'error');
      return;
    }
    // In fullscreen, the Keyboard Lock API lets Esc, Meta and Alt+Tab reach the page (and
    // so the target). Browsers without it simply keep those keys.
    const kb = keyboardLock();
    if (kb) kb.lock().catch(() => {});
    this.screen.focus({ preventScroll: true });
  }
}

/**
 * The Keyboard Lock API (Chromium), not in TypeScript's DOM types.
 * @returns {{lock(): Promise<void>, unlock(): void} | null}
 */
function keyboardLock() {
  const kb = /** @type {{keyboard?: {lock?: () => Promise<void>, unlock?: () => void}}} */ (navigator).keyboard;
  return kb && kb.lock && kb.unlock ? /** @type {{lock(): Promise<void>, unlock(): void}} */ (kb) : null;
}
