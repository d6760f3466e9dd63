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
import { t, formatNumber, formatRate } from './i18n.js';
import { Menu, menuItem, menuSelect, menuSep } from './menus.js';

const CODEC_KEY = 'ipkvm.codec';

/* The lists' values; their labels are made in the user's language when the menu is built. */
const BITRATES = [500, 1000, 2000, 4000, 8000]; // kbit/s
const DEFAULT_BITRATE = 2000;
const QUALITIES = [30, 50, 70, 80, 90, 100];
const DEFAULT_QUALITY = 80;
const FRAME_RATES = [5, 10, 15, 30, 60];

/** @returns {import('./menus.js').Option[]} */
function codecOptions() {
  return [['mjpeg', 'MJPEG'], ['h264', t('video.codec_h264')]];
}

/** @returns {import('./menus.js').Option[]} */
function bitrateOptions() {
  return BITRATES.map((kbps) => {
    const rate = formatRate((kbps * 1000) / 8);
    return [String(kbps), kbps === DEFAULT_BITRATE ? t('video.option_default', { value: rate }) : rate];
  });
}

/** @returns {import('./menus.js').Option[]} */
function qualityOptions() {
  return QUALITIES.map((q) => {
    const value = formatNumber(q);
    if (q === DEFAULT_QUALITY) return [String(q), t('video.option_default', { value })];
    if (q === QUALITIES[0]) return [String(q), t('video.quality_low', { value })];
    if (q === 100) return [String(q), t('video.quality_best', { value })];
    return [String(q), value];
  });
}

/** @returns {import('./menus.js').Option[]} */
function frameRateOptions() {
  return FRAME_RATES.map((fps) => [String(fps), t('video.fps_value', { fps: formatNumber(fps) })]);
}

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
    super({ id: 'video', label: t('video.menu') });
    this.app = app;
    this.video = video;
    this.stage = stage;
    this.screen = screen;
    this.onStreamer = onStreamer;
    const codec = menuSelect({ id: 'video-codec', label: t('video.codec'), options: codecOptions() });
    const bitrate = menuSelect({ id: 'video-bitrate', label: t('video.bitrate'), options: bitrateOptions() });
    const quality = menuSelect({ id: 'video-quality', label: t('video.quality'), options: qualityOptions() });
    const fps = menuSelect({ id: 'video-fps', label: t('video.max_fps'), options: frameRateOptions() });
    this.codec = codec.select;
    this.bitrate = bitrate.select;
    this.quality = quality.select;
    this.fps = fps.select;
    this.snapshot = el('a', {
      class: 'menu-item', id: 'btn-snapshot', href: '/api/streamer/snapshot', download: 'screenshot.jpg',
      text: t('video.snapshot'),
    });
    this.fullscreen = menuItem({ id: 'btn-fullscreen', label: t('video.fullscreen') });
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
      setText(this.fullscreen, full ? t('video.leave_fullscreen') : t('video.fullscreen'));
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
    h264.textContent = ok ? t('video.codec_h264') : t(deviceHas ? 'video.codec_h264_unsupported' : 'video.codec_h264_off');
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
      toast(t('video.params_failed', { error: describeError(err) }), 'error');
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
      toast(t('video.fullscreen_failed'), 'error');
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
