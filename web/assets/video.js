// @ts-check
/*
 * video.js — the remote screen's picture: the MJPEG stream, drawn on a <canvas>.
 *
 * The stream is read with fetch() and split into its parts here rather than handed to an
 * <img>: a browser shows a multipart part only once the next part's headers have arrived,
 * and the device sends a still screen again only once a second, so an <img> would show the
 * last change of the screen up to a second late. Reading the parts ourselves shows each
 * picture as soon as it is complete, and gives each part's headers: X-Sequence (a picture
 * sent again is not drawn again) and X-Timestamp (its capture time, which with the clock
 * offset measured on the event socket gives the real capture-to-screen latency).
 * Browsers without streaming fetch or createImageBitmap get an <img> instead.
 *
 * The element fills the stage and keeps the picture's aspect ratio by object-fit: contain,
 * so the picture is letterboxed inside it; geometry() says where its pixels really are, for
 * the mouse. A broken stream is reopened with a growing pause. With the codec set to H.264,
 * h264.js (WebCodecs) draws on the same canvas instead, behind the same interface.
 */

import { H264Player } from './h264.js';
import { t } from './i18n.js';

const STREAM_URL = '/api/streamer/stream';
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 15000;
const LATENCY_SAMPLES = 15;

const CRLFCRLF = [13, 10, 13, 10];

/**
 * Index of `pattern` in buf[from, to), or -1.
 * @param {Uint8Array} buf
 * @param {readonly number[]} pattern
 * @param {number} from
 * @param {number} to
 */
function indexOf(buf, pattern, from, to) {
  const last = to - pattern.length;
  outer: for (let i = from; i <= last; i++) {
    for (let j = 0; j < pattern.length; j++) if (buf[i + j] !== pattern[j]) continue outer;
    return i;
  }
  return -1;
}

/* A byte queue: chunks are appended at the end, parsed parts taken from the front. */
class ByteQueue {
  constructor() {
    this.buf = new Uint8Array(256 * 1024);
    this.start = 0;
    this.end = 0;
  }

  get length() {
    return this.end - this.start;
  }

  /** @param {Uint8Array} chunk */
  push(chunk) {
    if (this.end + chunk.length > this.buf.length) {
      const live = this.length;
      if (live + chunk.length > this.buf.length / 2) {
        const bigger = new Uint8Array(Math.max(this.buf.length * 2, live + chunk.length));
        bigger.set(this.buf.subarray(this.start, this.end));
        this.buf = bigger;
      } else {
        this.buf.copyWithin(0, this.start, this.end);
      }
      this.start = 0;
      this.end = live;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }
}

/**
 * Reads one multipart/x-mixed-replace response and calls onPart(bytes, headers) for each
 * part (headers: lower-case names). Parts must carry Content-Length (ipkvmd's do).
 * @param {Response} res
 * @param {(bytes: Uint8Array<ArrayBuffer>, headers: Record<string, string>) => void} onPart
 */
async function readMultipart(res, onPart) {
  const type = res.headers.get('Content-Type') || '';
  const m = /boundary="?([^";]+)"?/i.exec(type);
  if (!m) throw new Error('the stream is not multipart');
  const delimiter = Array.from(new TextEncoder().encode(`--${m[1]}`));
  const decoder = new TextDecoder();
  const q = new ByteQueue();
  if (!res.body) throw new Error('the stream has no body');
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    q.push(value);
    for (;;) {
      const at = indexOf(q.buf, delimiter, q.start, q.end);
      if (at < 0) break;
      const headEnd = indexOf(q.buf, CRLFCRLF, at, q.end);
      if (headEnd < 0) break;
      const head = decoder.decode(q.buf.subarray(at + delimiter.length, headEnd));
      /** @type {Record<string, string>} */
      const headers = {};
      for (const line of head.split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length']);
      if (!Number.isFinite(length) || length < 0) throw new Error('a part without Content-Length');
      const body = headEnd + 4;
      if (q.end - body < length) break; // the rest of this part is still on its way
      onPart(q.buf.slice(body, body + length), headers);
      q.start = body + length;
    }
  }
}

/** @typedef {import('./h264.js').H264Stats} H264Stats */
/** @typedef {{left: number, top: number, width: number, height: number, w: number, h: number}} Geometry */

export class VideoView {
  /**
   * @param {object} deps
   * @param {HTMLCanvasElement} deps.canvas the element the picture is drawn on (replaced by
   *   an <img> as fallback)
   * @param {HTMLElement} deps.placeholder shown instead when the device has no video
   * @param {HTMLElement} deps.wait shown until the first picture
   * @param {() => number | null} [deps.clockOffset] server clock minus local clock in ms, or
   *   null when unknown
   * @param {(ms: number) => void} [deps.onLatency] capture-to-screen latency, median of the
   *   last pictures
   * @param {(stats: H264Stats) => void} [deps.onStats] the H.264 player's fps and bitrate
   */
  constructor({ canvas, placeholder, wait, clockOffset, onLatency, onStats }) {
    this.canvas = canvas;
    /** @type {HTMLCanvasElement | HTMLImageElement} what shows the picture */
    this.el = canvas;
    this.placeholder = placeholder;
    this.wait = wait;
    this.clockOffset = clockOffset || (() => null);
    this.onLatency = onLatency || (() => {});
    this.streaming = typeof ReadableStream !== 'undefined' && typeof createImageBitmap === 'function' &&
      typeof TextDecoder !== 'undefined' && 'body' in Response.prototype;
    if (!this.streaming) {
      const img = document.createElement('img');
      img.id = canvas.id;
      img.className = canvas.className;
      img.alt = '';
      img.draggable = false;
      img.hidden = true;
      img.addEventListener('load', () => {
        this.retryMs = RETRY_MIN_MS;
      });
      img.addEventListener('error', () => this.#retry());
      canvas.replaceWith(img);
      this.el = img;
    }
    this.enabled = false;
    this.stopped = false;
    this.retryMs = RETRY_MIN_MS;
    this.retryTimer = 0;
    /** @type {AbortController | null} */
    this.abort = null;
    this.generation = 0;
    /** @type {import('./app.js').Signal | null} the streamer's signal: {state, width, height, fps} */
    this.signal = null;
    this.frameW = 0;
    this.frameH = 0;
    /** @type {string | undefined | null} X-Sequence of the last picture; null: none yet */
    this.lastSeq = null;
    /** @type {{bytes: Uint8Array<ArrayBuffer>, ts: number} | null} */
    this.pending = null;
    this.decoding = false;
    /** @type {number[]} */
    this.latencies = [];
    /** @type {'mjpeg' | 'h264'} */
    this.codec = 'mjpeg';
    /** @type {H264Player | null} the H.264 player while the codec is H.264 */
    this.player = null;
    this.onStats = onStats || (() => {});
  }

  /**
   * 'mjpeg' or 'h264' (only when H264Player.supported()).
   * @param {'mjpeg' | 'h264'} codec
   */
  setCodec(codec) {
    if (codec === this.codec) return;
    this.codec = codec;
    this.latencies = [];
    if (this.enabled && !this.stopped) this.#open();
  }

  /**
   * Shows the stream (true) or the "no video source" placeholder (false).
   * @param {boolean} enabled
   */
  setEnabled(enabled) {
    if (enabled === this.enabled) return;
    this.enabled = enabled;
    window.clearTimeout(this.retryTimer);
    if (!enabled) {
      this.#close();
      this.el.hidden = true;
      this.placeholder.hidden = false;
      return;
    }
    this.placeholder.hidden = true;
    this.el.hidden = false;
    this.el.setAttribute('aria-label', t('console.stage'));
    this.#open();
  }

  /* For good: the session ended or the page goes away. */
  stop() {
    this.stopped = true;
    window.clearTimeout(this.retryTimer);
    this.#close();
  }

  /* Reopen now (after the event socket came back, the stream probably broke too). */
  reconnect() {
    if (!this.enabled || this.stopped) return;
    window.clearTimeout(this.retryTimer);
    this.#open();
  }

  #close() {
    this.generation += 1;
    if (this.abort) this.abort.abort();
    this.abort = null;
    if (this.player) this.player.stop();
    this.player = null;
    if (!this.streaming) this.el.removeAttribute('src');
  }

  #open() {
    this.#close();
    this.lastSeq = null;
    if (this.codec === 'h264' && this.streaming) {
      this.player = new H264Player(this.canvas, {
        clockOffsetMs: () => this.clockOffset(),
        onStats: (s) => {
          this.frameW = s.width;
          this.frameH = s.height;
          if (s.latencyMs !== null) this.#pushLatency(s.latencyMs);
          this.onStats(s);
        },
      });
      this.player.start();
      return;
    }
    if (this.el instanceof HTMLImageElement) {
      this.el.src = `${STREAM_URL}?t=${Date.now()}`;
      return;
    }
    const generation = this.generation;
    const abort = new AbortController();
    this.abort = abort;
    this.#read(generation, abort.signal).then(
      () => this.#ended(generation),
      () => this.#ended(generation),
    );
  }

  /**
   * @param {number} generation
   * @param {AbortSignal} signal
   */
  async #read(generation, signal) {
    const res = await fetch(STREAM_URL, { credentials: 'same-origin', cache: 'no-store', signal });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    await readMultipart(res, (bytes, headers) => {
      if (generation !== this.generation) return;
      this.retryMs = RETRY_MIN_MS;
      this.#onPicture(bytes, headers);
    });
  }

  /** @param {number} generation */
  #ended(generation) {
    if (generation !== this.generation) return; // closed on purpose
    this.#retry();
  }

  #retry() {
    if (!this.enabled || this.stopped) return;
    window.clearTimeout(this.retryTimer);
    const delay = this.retryMs;
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    this.retryTimer = window.setTimeout(() => this.reconnect(), delay);
  }

  /**
   * Newest picture wins: while one is decoded, a newer one replaces the waiting one.
   * @param {Uint8Array<ArrayBuffer>} bytes
   * @param {Record<string, string>} headers
   */
  #onPicture(bytes, headers) {
    const seq = headers['x-sequence'];
    if (seq !== undefined && seq === this.lastSeq) return; // sent again: unchanged
    // The first picture of a stream is the screen as it is, maybe captured long ago: its
    // age is not a latency. Later ones are new pictures, captured just before.
    const measure = this.lastSeq !== null;
    this.lastSeq = seq;
    this.pending = { bytes, ts: measure ? Number(headers['x-timestamp']) : NaN };
    if (!this.decoding) this.#drawPending();
  }

  async #drawPending() {
    this.decoding = true;
    while (this.pending) {
      const pic = this.pending;
      this.pending = null;
      let bitmap;
      try {
        bitmap = await createImageBitmap(new Blob([pic.bytes], { type: 'image/jpeg' }));
      } catch {
        continue; // a damaged picture: wait for the next
      }
      const canvas = this.canvas;
      if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
        canvas.width = bitmap.width;
        canvas.height = bitmap.height;
      }
      const g = canvas.getContext('2d');
      if (g) g.drawImage(bitmap, 0, 0);
      bitmap.close();
      this.frameW = canvas.width;
      this.frameH = canvas.height;
      this.#latency(pic.ts);
    }
    this.decoding = false;
  }

  /** @param {number} ts capture time, s since the epoch (device clock) */
  #latency(ts) {
    const offset = this.clockOffset();
    if (!Number.isFinite(ts) || ts <= 0 || offset === null) return;
    this.#pushLatency(Date.now() + offset - ts * 1000);
  }

  /** @param {number} ms */
  #pushLatency(ms) {
    if (ms < 0 || ms > 60000) return;
    this.latencies.push(ms);
    if (this.latencies.length > LATENCY_SAMPLES) this.latencies.shift();
    const sorted = [...this.latencies].sort((a, b) => a - b);
    this.onLatency(sorted[sorted.length >> 1]);
  }

  /** @param {import('./app.js').Signal | null} signal */
  setSignal(signal) {
    this.signal = signal || null;
  }

  /* Called often: keeps the "waiting" note and the element's size attributes current. */
  poll() {
    const size = this.#pictureSize();
    const waiting = this.enabled && !this.stopped && !size;
    if (this.wait.hidden === waiting) this.wait.hidden = !waiting;
    const w = size ? String(size.w) : '';
    const h = size ? String(size.h) : '';
    if (this.el.dataset.width !== w) this.el.dataset.width = w;
    if (this.el.dataset.height !== h) this.el.dataset.height = h;
  }

  /* The size of the picture on screen, in target pixels; null before the first one. */
  /** @returns {{w: number, h: number} | null} */
  #pictureSize() {
    if (this.el instanceof HTMLImageElement) {
      return this.el.naturalWidth > 0 ? { w: this.el.naturalWidth, h: this.el.naturalHeight } : null;
    }
    return this.frameW > 0 ? { w: this.frameW, h: this.frameH } : null;
  }

  /* The picture's size: what is shown, else what the device says the signal is. */
  /** @returns {{w: number, h: number} | null} */
  size() {
    const shown = this.#pictureSize();
    if (shown) return shown;
    const s = this.signal;
    if (s && s.width && s.height && s.width > 0 && s.height > 0) return { w: s.width, h: s.height };
    return null;
  }

  /* Where the picture's pixels are on the page (object-fit: contain letterboxing), with
   * its size in target pixels; null when there is no picture. */
  /** @returns {Geometry | null} */
  geometry() {
    if (!this.enabled || this.el.hidden) return null;
    const size = this.size();
    if (!size) return null;
    const r = this.el.getBoundingClientRect();
    if (r.width <= 0 || r.height <= 0) return null;
    const scale = Math.min(r.width / size.w, r.height / size.h);
    const width = size.w * scale;
    const height = size.h * scale;
    return {
      left: r.left + (r.width - width) / 2,
      top: r.top + (r.height - height) / 2,
      width,
      height,
      w: size.w,
      h: size.h,
    };
  }
}
