// @ts-check
/*
 * input.js — keyboard and mouse capture for the remote screen.
 *
 * Keys are sent by KeyboardEvent.code (the key's position), never by the character, so the
 * target's own layout decides what a key means. Everything goes over the event socket as the
 * binary input protocol of docs/api.md (one message per event, little-endian):
 *   01 state len code…   key down (1) / up (0)
 *   02 buttons x y wheel pan      absolute mouse, x and y 0..32767
 *   03 buttons dx dy wheel pan    relative mouse
 *   04                            release every key and button
 * Input is never queued while the socket is down: a key pressed offline must not arrive
 * seconds later. Whenever the page loses the keyboard (blur, hidden tab, the release
 * shortcut) every key and button is released on the target, so nothing stays held.
 *
 * Absolute mouse: the picture is letterboxed inside the screen element (object-fit:
 * contain); the page point is mapped through the picture's content box onto target pixels,
 * aiming at the centre of the pixel under the pointer. Relative mouse uses Pointer Lock.
 * Touch: a tap is a left click, one finger moves the pointer, two fingers scroll.
 */

import { KEY_CODES } from './keycodes.js';

const MSG_KEY = 1;
const MSG_ABS = 2;
const MSG_REL = 3;
const MSG_RELEASE = 4;

const ABS_MAX = 32767;
// Wheel: one notch per this many pixels of scrolling (one line counts as 40 px).
const WHEEL_STEP_PX = 100;
const TOUCH_WHEEL_STEP_PX = 30;
const TAP_MAX_MS = 350;
const TAP_MAX_MOVE = 10;

// Codes of keys the device knows (generated from data/keymap.csv). Anything else is not sent.
const KNOWN_CODES = new Set(KEY_CODES);

const MODIFIER_CODES = new Set(['ControlLeft', 'ControlRight', 'AltLeft', 'AltRight',
  'ShiftLeft', 'ShiftRight']);

/** @param {string} code */
export function isKnownCode(code) {
  return KNOWN_CODES.has(code);
}

/**
 * @param {string} code KeyboardEvent.code
 * @param {boolean} down
 */
export function keyMessage(code, down) {
  const buf = new Uint8Array(3 + code.length);
  buf[0] = MSG_KEY;
  buf[1] = down ? 1 : 0;
  buf[2] = code.length;
  for (let i = 0; i < code.length; i++) buf[3 + i] = code.charCodeAt(i) & 0x7f;
  return buf;
}

/**
 * @param {number} v
 * @param {number} lo
 * @param {number} hi
 */
function clampInt(v, lo, hi) {
  return Math.max(lo, Math.min(hi, Math.round(v)));
}

/**
 * @param {number} buttons
 * @param {number} x
 * @param {number} y
 * @param {number} [wheel]
 * @param {number} [pan]
 */
function absMessage(buttons, x, y, wheel = 0, pan = 0) {
  const view = new DataView(new ArrayBuffer(8));
  view.setUint8(0, MSG_ABS);
  view.setUint8(1, buttons & 0xff);
  view.setUint16(2, clampInt(x, 0, ABS_MAX), true);
  view.setUint16(4, clampInt(y, 0, ABS_MAX), true);
  view.setInt8(6, clampInt(wheel, -127, 127));
  view.setInt8(7, clampInt(pan, -127, 127));
  return view.buffer;
}

/**
 * @param {number} buttons
 * @param {number} dx
 * @param {number} dy
 * @param {number} [wheel]
 * @param {number} [pan]
 */
function relMessage(buttons, dx, dy, wheel = 0, pan = 0) {
  const view = new DataView(new ArrayBuffer(8));
  view.setUint8(0, MSG_REL);
  view.setUint8(1, buttons & 0xff);
  view.setInt16(2, clampInt(dx, -32768, 32767), true);
  view.setInt16(4, clampInt(dy, -32768, 32767), true);
  view.setInt8(6, clampInt(wheel, -127, 127));
  view.setInt8(7, clampInt(pan, -127, 127));
  return view.buffer;
}

/**
 * Maps a page point to absolute HID coordinates through the content box of the picture.
 * `geo` is {left, top, width, height, w, h}: where the picture's pixels are on the page and
 * its size in target pixels. Aims at the centre of the target pixel under the point.
 * @param {number} clientX
 * @param {number} clientY
 * @param {import('./video.js').Geometry} geo
 */
export function mapToAbsolute(clientX, clientY, geo) {
  /**
   * @param {number} client
   * @param {number} start
   * @param {number} size
   * @param {number} pixels
   */
  const axis = (client, start, size, pixels) => {
    if (pixels <= 1 || size <= 0) return 0;
    const f = Math.max(0, Math.min(1, (client - start) / size));
    const px = Math.min(pixels - 1, Math.max(0, f * pixels - 0.5));
    return clampInt((px / (pixels - 1)) * ABS_MAX, 0, ABS_MAX);
  };
  return {
    x: axis(clientX, geo.left, geo.width, geo.w),
    y: axis(clientY, geo.top, geo.height, geo.h),
  };
}

/** @typedef {'off' | 'keyboard' | 'pointer-lock'} CaptureState */

export class InputCapture {
  /**
   * @param {object} deps
   * @param {HTMLElement} deps.screen the focusable element that captures (the stage around
   *   the picture)
   * @param {{sendBinary(bytes: BufferSource): boolean}} deps.socket the event socket
   * @param {() => import('./video.js').Geometry | null} deps.geometry where the picture is;
   *   null when there is none
   * @param {() => boolean} deps.canControl false for viewers and while HID is offline
   * @param {() => 'absolute' | 'relative'} deps.mouseMode
   * @param {(state: CaptureState) => void} [deps.onChange]
   * @param {() => void} [deps.onRelease] the release shortcut gave keyboard and mouse back
   * @param {(message: string) => void} [deps.onLockError] the browser refused pointer lock
   */
  constructor({ screen, socket, geometry, canControl, mouseMode, onChange, onRelease, onLockError }) {
    this.screen = screen;
    this.socket = socket;
    this.geometry = geometry;
    this.canControl = canControl;
    this.mouseMode = mouseMode;
    this.onChange = onChange || (() => {});
    this.onRelease = onRelease || (() => {});
    this.onLockError = onLockError || (() => {});
    /** @type {Set<string>} codes held on the target */
    this.pressed = new Set();
    this.buttons = 0;
    this.abs = { x: ABS_MAX >> 1, y: ABS_MAX >> 1 };
    this.pendingAbs = false;
    this.rel = { dx: 0, dy: 0 };
    this.wheelAcc = 0;
    this.frame = 0;
    /** @type {Map<number, {x: number, y: number, x0: number, y0: number, t0: number, moved: boolean}>} */
    this.touches = new Map();
    this.touchWheelAcc = 0;
    this.locked = false;
    this.#wire();
  }

  get captured() {
    return document.activeElement === this.screen;
  }

  /** @returns {CaptureState} */
  state() {
    if (this.locked) return 'pointer-lock';
    return this.captured && this.canControl() ? 'keyboard' : 'off';
  }

  /** @param {BufferSource} bytes */
  send(bytes) {
    return this.socket.sendBinary(bytes);
  }

  /* Every key and button up on the target, and forget what we held. */
  releaseAll() {
    const had = this.pressed.size > 0 || this.buttons !== 0;
    this.pressed.clear();
    this.buttons = 0;
    this.touches.clear();
    if (had && this.canControl()) this.send(new Uint8Array([MSG_RELEASE]));
  }

  /* The release shortcut: give keyboard and mouse back to the page. */
  release() {
    this.releaseAll();
    if (document.pointerLockElement) document.exitPointerLock();
    this.screen.blur();
    this.onRelease();
    this.onChange(this.state());
  }

  /**
   * One key press or release (on-screen keyboard, shortcuts).
   * @param {string} code
   * @param {boolean} down
   */
  tapKey(code, down) {
    if (!this.canControl() || !KNOWN_CODES.has(code)) return false;
    return this.send(keyMessage(code, down));
  }

  #wire() {
    const s = this.screen;
    s.addEventListener('keydown', (ev) => this.#onKey(ev, true));
    s.addEventListener('keyup', (ev) => this.#onKey(ev, false));
    s.addEventListener('focus', () => this.onChange(this.state()));
    s.addEventListener('blur', () => {
      this.releaseAll();
      this.onChange(this.state());
    });
    window.addEventListener('blur', () => this.releaseAll());
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) this.releaseAll();
    });

    s.addEventListener('pointerdown', (ev) => this.#onPointerDown(ev));
    s.addEventListener('pointermove', (ev) => this.#onPointerMove(ev));
    s.addEventListener('pointerup', (ev) => this.#onPointerUp(ev));
    s.addEventListener('pointercancel', (ev) => this.#onPointerUp(ev, true));
    s.addEventListener('wheel', (ev) => this.#onWheel(ev), { passive: false });
    s.addEventListener('contextmenu', (ev) => {
      if (this.canControl()) ev.preventDefault();
    });
    document.addEventListener('pointerlockchange', () => {
      this.locked = document.pointerLockElement === s;
      if (!this.locked) this.releaseAll();
      this.onChange(this.state());
    });
  }

  /* ---- keyboard ------------------------------------------------------------------------ */

  /**
   * @param {KeyboardEvent} ev
   * @param {boolean} down
   */
  #onKey(ev, down) {
    if (!this.canControl()) return;
    const code = ev.code;
    // Ctrl+Alt+Shift together: release capture; the last of the three is not sent.
    if (down && ev.ctrlKey && ev.altKey && ev.shiftKey && MODIFIER_CODES.has(code)) {
      ev.preventDefault();
      this.release();
      return;
    }
    if (!code || !KNOWN_CODES.has(code)) return;
    // Everything the target gets, the browser must not act on (Tab, Backspace, F5, …).
    ev.preventDefault();
    ev.stopPropagation();
    if (down) {
      if (ev.repeat || this.pressed.has(code)) return; // the target repeats by itself
      this.pressed.add(code);
      this.send(keyMessage(code, true));
    } else {
      if (!this.pressed.has(code)) return;
      this.pressed.delete(code);
      this.send(keyMessage(code, false));
      // macOS sends no keyup for keys released while Command is held: let them go with it.
      if (code === 'MetaLeft' || code === 'MetaRight') {
        for (const other of [...this.pressed]) {
          if (MODIFIER_CODES.has(other) || other.startsWith('Meta')) continue;
          this.pressed.delete(other);
          this.send(keyMessage(other, false));
        }
      }
    }
  }

  /* ---- mouse --------------------------------------------------------------------------- */

  /** @param {PointerEvent} ev */
  #absFromEvent(ev) {
    const geo = this.geometry();
    if (!geo) return null;
    return mapToAbsolute(ev.clientX, ev.clientY, geo);
  }

  #flushSoon() {
    if (this.frame) return;
    this.frame = window.requestAnimationFrame(() => {
      this.frame = 0;
      this.#flush();
    });
  }

  /* Sends what accumulated: the newest absolute position, or the summed relative motion. */
  #flush() {
    if (!this.canControl()) return;
    if (this.pendingAbs) {
      this.pendingAbs = false;
      this.send(absMessage(this.buttons, this.abs.x, this.abs.y));
    }
    if (this.rel.dx || this.rel.dy) {
      const { dx, dy } = this.rel;
      this.rel.dx = 0;
      this.rel.dy = 0;
      this.send(relMessage(this.buttons, dx, dy));
    }
  }

  /** @param {number} buttons */
  #sendButtons(buttons) {
    this.buttons = buttons & 0x1f;
    if (this.mouseMode() === 'relative') {
      this.#flush();
      this.send(relMessage(this.buttons, 0, 0));
    } else {
      this.pendingAbs = false;
      this.send(absMessage(this.buttons, this.abs.x, this.abs.y));
    }
  }

  /** @param {PointerEvent} ev */
  #onPointerDown(ev) {
    if (!this.canControl()) return;
    if (ev.pointerType === 'touch') {
      this.#touchDown(ev);
      return;
    }
    // Take the keyboard too: a click on the screen means "control the target".
    if (document.activeElement !== this.screen) this.screen.focus({ preventScroll: true });
    ev.preventDefault();
    if (this.mouseMode() === 'relative') {
      if (!this.locked) {
        const p = this.screen.requestPointerLock();
        if (p && typeof p.catch === 'function') {
          p.catch((err) => this.onLockError(err && err.message ? err.message : String(err)));
        }
        return; // the click that asks for the lock is not sent
      }
      this.#sendButtons(ev.buttons);
      return;
    }
    const pos = this.#absFromEvent(ev);
    if (!pos) return;
    this.abs = pos;
    this.#sendButtons(ev.buttons);
    try {
      this.screen.setPointerCapture(ev.pointerId);
    } catch {
      /* not capturable: fine */
    }
  }

  /** @param {PointerEvent} ev */
  #onPointerMove(ev) {
    if (!this.canControl()) return;
    if (ev.pointerType === 'touch') {
      this.#touchMove(ev);
      return;
    }
    if (this.mouseMode() === 'relative') {
      if (!this.locked) return;
      this.rel.dx += ev.movementX || 0;
      this.rel.dy += ev.movementY || 0;
      this.#flushSoon();
      return;
    }
    const pos = this.#absFromEvent(ev);
    if (!pos) return;
    if (pos.x === this.abs.x && pos.y === this.abs.y && (ev.buttons & 0x1f) === this.buttons) return;
    this.abs = pos;
    if ((ev.buttons & 0x1f) !== this.buttons) {
      this.#sendButtons(ev.buttons);
      return;
    }
    this.pendingAbs = true;
    this.#flushSoon();
  }

  /**
   * @param {PointerEvent} ev
   * @param {boolean} [cancelled]
   */
  #onPointerUp(ev, cancelled = false) {
    if (!this.canControl()) return;
    if (ev.pointerType === 'touch') {
      this.#touchUp(ev, cancelled);
      return;
    }
    if (this.mouseMode() === 'relative') {
      if (this.locked) this.#sendButtons(ev.buttons);
      return;
    }
    const pos = this.#absFromEvent(ev);
    if (pos) this.abs = pos;
    this.#sendButtons(cancelled ? 0 : ev.buttons);
  }

  /** @param {WheelEvent} ev */
  #onWheel(ev) {
    if (!this.canControl()) return;
    ev.preventDefault();
    const scale = ev.deltaMode === 1 ? 40 : ev.deltaMode === 2 ? 800 : 1;
    this.wheelAcc += ev.deltaY * scale;
    const notches = Math.trunc(this.wheelAcc / WHEEL_STEP_PX);
    if (notches === 0) return;
    this.wheelAcc -= notches * WHEEL_STEP_PX;
    this.#sendWheel(-notches); // page down (positive deltaY) is wheel down (negative)
  }

  /** @param {number} wheel notches, positive up */
  #sendWheel(wheel) {
    this.#flush();
    if (this.mouseMode() === 'relative') this.send(relMessage(this.buttons, 0, 0, wheel));
    else this.send(absMessage(this.buttons, this.abs.x, this.abs.y, wheel));
  }

  /* ---- touch --------------------------------------------------------------------------- */

  /** @param {PointerEvent} ev */
  #touchDown(ev) {
    if (document.activeElement !== this.screen) this.screen.focus({ preventScroll: true });
    ev.preventDefault();
    this.touches.set(ev.pointerId, {
      x: ev.clientX, y: ev.clientY, x0: ev.clientX, y0: ev.clientY, t0: performance.now(),
      moved: false,
    });
    try {
      this.screen.setPointerCapture(ev.pointerId);
    } catch {
      /* fine */
    }
    if (this.touches.size === 2) this.touchWheelAcc = 0;
  }

  /** @param {PointerEvent} ev */
  #touchMove(ev) {
    const t = this.touches.get(ev.pointerId);
    if (!t) return;
    ev.preventDefault();
    const dx = ev.clientX - t.x;
    const dy = ev.clientY - t.y;
    t.x = ev.clientX;
    t.y = ev.clientY;
    if (Math.hypot(t.x - t.x0, t.y - t.y0) > TAP_MAX_MOVE) t.moved = true;
    if (this.touches.size >= 2) {
      // Two fingers: scroll by the average vertical motion (each finger reports half).
      this.touchWheelAcc += dy / this.touches.size;
      const notches = Math.trunc(this.touchWheelAcc / TOUCH_WHEEL_STEP_PX);
      if (notches !== 0) {
        this.touchWheelAcc -= notches * TOUCH_WHEEL_STEP_PX;
        this.#sendWheel(notches); // fingers moving down scroll the content up
      }
      return;
    }
    if (this.mouseMode() === 'relative') {
      this.rel.dx += dx;
      this.rel.dy += dy;
      this.#flushSoon();
      return;
    }
    const pos = this.#absFromEvent(ev);
    if (!pos) return;
    this.abs = pos;
    this.pendingAbs = true;
    this.#flushSoon();
  }

  /**
   * @param {PointerEvent} ev
   * @param {boolean} cancelled
   */
  #touchUp(ev, cancelled) {
    const t = this.touches.get(ev.pointerId);
    if (!t) return;
    const wasMulti = this.touches.size > 1;
    this.touches.delete(ev.pointerId);
    if (cancelled || wasMulti || t.moved || performance.now() - t.t0 > TAP_MAX_MS) return;
    // A tap: a left click where the finger was.
    if (this.mouseMode() !== 'relative') {
      const pos = this.#absFromEvent(ev);
      if (pos) this.abs = pos;
    }
    this.#sendButtons(1);
    this.#sendButtons(0);
  }
}
