// @ts-check
/*
 * keyboard.js — the Keyboard menu: the target's layout (remembered in this browser), the
 * paste dialog, shortcut buttons, SysRq and the on-screen keyboard.
 *
 * The menu's panel is built here from the tables below (menus.js has the pattern). The paste
 * dialog and the on-screen keyboard are parts of the page (a dialog, a section of the
 * workspace) that this menu opens and drives.
 *
 * Pasted text is typed by the device (POST /api/hid/type) for the chosen layout; progress
 * comes back as `hid_type` events, and characters the layout cannot type are listed for the
 * operator instead of being dropped silently. Shortcuts go through /api/hid/shortcut (keys
 * pressed in order, released in reverse). The on-screen keyboard sends key downs and ups over
 * the event socket like the physical keyboard; modifiers latch until the next key.
 */

import { ApiError, apiPost } from './api.js';
import { $, el, setText, describeError, showMessage, hideMessage, toast, wireCloseButtons, setBusy } from './ui.js';
import { Menu, menuHeading, menuItem, menuSelect, menuSep } from './menus.js';

const LAYOUT_KEY = 'ipkvm.layout';
/** @type {readonly import('./menus.js').Option[]} the target layouts, by the device's names */
const LAYOUT_OPTIONS = [['us', 'US English'], ['uk', 'UK English'], ['de', 'German'], ['fr', 'French'],
  ['jp', 'Japanese (JIS)']];
const LAYOUTS = LAYOUT_OPTIONS.map(([value]) => value);

/** @type {readonly {keys: string, label: string}[]} key combinations the browser keeps for itself */
const SHORTCUTS = [
  { keys: 'ControlLeft+AltLeft+Delete', label: 'Ctrl+Alt+Del' },
  { keys: 'AltLeft+Tab', label: 'Alt+Tab' },
  { keys: 'AltLeft+F4', label: 'Alt+F4' },
  { keys: 'PrintScreen', label: 'PrintScreen' },
  { keys: 'MetaLeft', label: 'Win / Meta' },
  { keys: 'ControlLeft+AltLeft+Backspace', label: 'Ctrl+Alt+Backspace' },
];

/** @type {readonly import('./menus.js').Option[]} Linux magic SysRq keys (Alt+PrintScreen+key) */
const SYSRQ = [['KeyR', 'R · keyboard raw mode off'], ['KeyE', 'E · terminate all tasks'],
  ['KeyI', 'I · kill all tasks'], ['KeyS', 'S · sync disks'], ['KeyU', 'U · remount read-only'],
  ['KeyB', 'B · reboot now'], ['KeyO', 'O · power off now'], ['KeyH', 'H · help']];

/* ---- the on-screen keyboard: rows of [code, legend, width] -------------------------------- */

/** @typedef {[code: string | null, legend?: string, width?: number]} OskKey */

/** @type {OskKey[]} */
const FN_ROW = [['Escape', 'Esc', 1.25], ['F1', 'F1'], ['F2', 'F2'], ['F3', 'F3'], ['F4', 'F4'],
  ['F5', 'F5'], ['F6', 'F6'], ['F7', 'F7'], ['F8', 'F8'], ['F9', 'F9'], ['F10', 'F10'],
  ['F11', 'F11'], ['F12', 'F12'], ['PrintScreen', 'PrtSc'], ['ScrollLock', 'ScrLk'],
  ['Pause', 'Pause']];

/**
 * @param {string} s
 * @returns {OskKey[]}
 */
function letters(s) {
  return [...s].map((c) => /** @type {OskKey} */ ([`Key${c.toUpperCase()}`, c.toUpperCase()]));
}

/** @type {OskKey[][]} */
const ANSI = [
  FN_ROW,
  [['Backquote', '`'], ['Digit1', '1'], ['Digit2', '2'], ['Digit3', '3'], ['Digit4', '4'],
    ['Digit5', '5'], ['Digit6', '6'], ['Digit7', '7'], ['Digit8', '8'], ['Digit9', '9'],
    ['Digit0', '0'], ['Minus', '-'], ['Equal', '='], ['Backspace', '⌫ Back', 2]],
  [['Tab', 'Tab', 1.5], ...letters('qwertyuiop'), ['BracketLeft', '['], ['BracketRight', ']'],
    ['Backslash', '\\', 1.5]],
  [['CapsLock', 'Caps', 1.75], ...letters('asdfghjkl'), ['Semicolon', ';'], ['Quote', "'"],
    ['Enter', 'Enter', 2.25]],
  [['ShiftLeft', 'Shift', 2.25], ...letters('zxcvbnm'), ['Comma', ','], ['Period', '.'],
    ['Slash', '/'], ['ShiftRight', 'Shift', 2.75]],
  [['ControlLeft', 'Ctrl', 1.5], ['MetaLeft', 'Win', 1.25], ['AltLeft', 'Alt', 1.25],
    ['Space', '', 6.25], ['AltRight', 'AltGr', 1.25], ['MetaRight', 'Win', 1.25],
    ['ContextMenu', 'Menu', 1.25], ['ControlRight', 'Ctrl', 1.5]],
];

/** @type {OskKey[][]} */
const ISO = [
  FN_ROW,
  ANSI[1],
  [['Tab', 'Tab', 1.5], ...letters('qwertyuiop'), ['BracketLeft', '['], ['BracketRight', ']'],
    ['Enter', 'Enter', 1.5]],
  [['CapsLock', 'Caps', 1.75], ...letters('asdfghjkl'), ['Semicolon', ';'], ['Quote', "'"],
    ['Backslash', '#', 1], ['Enter', '', 1.25]],
  [['ShiftLeft', 'Shift', 1.25], ['IntlBackslash', '\\'], ...letters('zxcvbnm'), ['Comma', ','],
    ['Period', '.'], ['Slash', '/'], ['ShiftRight', 'Shift', 2.75]],
  ANSI[5],
];

/** @type {OskKey[][]} */
const JIS = [
  FN_ROW,
  [['Backquote', '半/全'], ['Digit1', '1'], ['Digit2', '2'], ['Digit3', '3'], ['Digit4', '4'],
    ['Digit5', '5'], ['Digit6', '6'], ['Digit7', '7'], ['Digit8', '8'], ['Digit9', '9'],
    ['Digit0', '0'], ['Minus', '-'], ['Equal', '^'], ['IntlYen', '¥'], ['Backspace', '⌫', 1]],
  [['Tab', 'Tab', 1.5], ...letters('qwertyuiop'), ['BracketLeft', '@'], ['BracketRight', '['],
    ['Enter', 'Enter', 1.5]],
  [['CapsLock', '英数', 1.75], ...letters('asdfghjkl'), ['Semicolon', ';'], ['Quote', ':'],
    ['Backslash', ']'], ['Enter', '', 1.25]],
  [['ShiftLeft', 'Shift', 2.25], ...letters('zxcvbnm'), ['Comma', ','], ['Period', '.'],
    ['Slash', '/'], ['IntlRo', '\\'], ['ShiftRight', 'Shift', 1.75]],
  [['ControlLeft', 'Ctrl', 1.5], ['MetaLeft', 'Win', 1.25], ['AltLeft', 'Alt', 1.25],
    ['NonConvert', '無変換', 1.25], ['Space', '', 3.5], ['Convert', '変換', 1.25],
    ['KanaMode', 'かな', 1.25], ['AltRight', 'Alt', 1.25], ['ControlRight', 'Ctrl', 1.5]],
];

/** @type {Record<string, Record<string, string>>} legends that differ from the geometry's, per layout */
const LEGENDS = {
  uk: { Digit2: '2 "', Digit3: '3 £', Quote: "' @", Backquote: '`' },
  de: {
    KeyY: 'Z', KeyZ: 'Y', Minus: 'ß', Equal: '´', BracketLeft: 'Ü', BracketRight: '+',
    Semicolon: 'Ö', Quote: 'Ä', Backslash: '#', Backquote: '^', IntlBackslash: '<', Slash: '-',
    Comma: ',', Period: '.',
  },
  fr: {
    KeyQ: 'A', KeyW: 'Z', KeyA: 'Q', KeyZ: 'W', Semicolon: 'M', KeyM: ',', Comma: ';',
    Period: ':', Slash: '!', Digit1: '&', Digit2: 'é', Digit3: '"', Digit4: "'", Digit5: '(',
    Digit6: '-', Digit7: 'è', Digit8: '_', Digit9: 'ç', Digit0: 'à', Minus: ')', Equal: '=',
    BracketLeft: '^', BracketRight: '$', Quote: 'ù', Backslash: '*', Backquote: '²',
    IntlBackslash: '<',
  },
};

/** @type {OskKey[][]} */
const NAV = [
  [['Insert', 'Ins'], ['Home', 'Home'], ['PageUp', 'PgUp']],
  [['Delete', 'Del'], ['End', 'End'], ['PageDown', 'PgDn']],
  [[null], ['ArrowUp', '↑'], [null]],
  [['ArrowLeft', '←'], ['ArrowDown', '↓'], ['ArrowRight', '→']],
];

const MODIFIERS = new Set(['ControlLeft', 'ControlRight', 'ShiftLeft', 'ShiftRight', 'AltLeft',
  'AltRight', 'MetaLeft', 'MetaRight']);

/** @param {string} layout */
function geometryFor(layout) {
  if (layout === 'jp') return JIS;
  if (layout === 'us') return ANSI;
  return ISO;
}

/**
 * A `hid_type` event: the progress of a text being typed.
 * @typedef {{id: number, state: string, typed: number, total: number}} TypeEvent
 */

/** @returns {string} */
function savedLayout() {
  let saved = null;
  try {
    saved = localStorage.getItem(LAYOUT_KEY);
  } catch {
    /* private mode */
  }
  return saved && LAYOUTS.includes(saved) ? saved : 'us';
}

/** The paste dialog's parts (index.html). */
function pasteParts() {
  return {
    dialog: $('paste-dialog', HTMLDialogElement),
    form: $('paste-form', HTMLFormElement),
    text: $('paste-text', HTMLTextAreaElement),
    layout: $('paste-layout', HTMLSelectElement),
    delay: $('paste-delay', HTMLSelectElement),
    bar: $('paste-bar', HTMLProgressElement),
    count: $('paste-count'),
    done: $('paste-done'),
    error: $('paste-error'),
    untyped: $('paste-untyped'),
    progress: $('paste-progress'),
    submit: $('paste-submit', HTMLButtonElement),
    cancel: $('paste-cancel', HTMLButtonElement),
  };
}

/** The on-screen keyboard's parts (index.html). */
function oskParts() {
  return {
    root: $('osk'),
    keys: $('osk-keys'),
    title: $('osk-title'),
    close: $('osk-close', HTMLButtonElement),
  };
}

export class KeyboardMenu extends Menu {
  /**
   * @param {{app: import('./app.js').App, input: import('./input.js').InputCapture}} deps
   *   input: sends the on-screen keyboard's keys
   */
  constructor({ app, input }) {
    super({ id: 'keyboard', label: 'Keyboard' });
    this.app = app;
    this.input = input;
    this.layout = savedLayout();
    this.paste = pasteParts();
    this.osk = oskParts();
    this.pasteButton = menuItem({ id: 'btn-paste', label: 'Paste text…' });
    this.oskButton = menuItem({ id: 'btn-osk', label: 'On-screen keyboard' });
    this.oskButton.setAttribute('aria-pressed', 'false');
    this.typingId = 0;
    this.typing = false;
    /** @type {Map<number, TypeEvent>} id -> newest hid_type event */
    this.seen = new Map();
    /** @type {Set<string>} */
    this.latched = new Set();
    /** @type {Map<number, string>} pointerId -> code */
    this.oskPressed = new Map();
    /** @type {HTMLButtonElement[]} what needs an operator and keyboard output */
    this.controls = [];
    this.#build();
    this.#initPaste();
    this.#initOsk();
  }

  /** @override */
  render() {
    const usable = this.app.isOperator() && this.app.has('hid');
    for (const control of this.controls) control.disabled = !usable;
  }

  #build() {
    const layout = menuSelect({ id: 'kb-layout', label: 'Target layout', options: LAYOUT_OPTIONS });
    layout.select.value = this.layout;
    layout.select.addEventListener('change', () => {
      this.layout = layout.select.value;
      try {
        localStorage.setItem(LAYOUT_KEY, this.layout);
      } catch {
        /* private mode: not remembered */
      }
      this.paste.layout.value = this.layout;
      this.#renderOsk();
    });
    const shortcuts = SHORTCUTS.map(({ keys, label }) => {
      const b = menuItem({ label });
      b.dataset.keys = keys;
      b.addEventListener('click', () => this.shortcut(keys));
      return b;
    });
    const send = el('button', { type: 'button', class: 'btn btn-small', id: 'btn-sysrq', text: 'Send' });
    const sysrq = menuSelect({ id: 'sysrq-key', label: 'SysRq', options: SYSRQ, extra: send });
    send.addEventListener('click', () => this.shortcut(`AltLeft+PrintScreen+${sysrq.select.value}`));
    const releaseAll = menuItem({ id: 'btn-release-all', label: 'Release all keys and buttons' });
    releaseAll.addEventListener('click', async () => {
      try {
        await apiPost('/api/hid/release_all');
        toast('Every key and button was released on the target.', 'ok', 3000);
      } catch (err) {
        toast(`Could not release the keys: ${describeError(err)}`, 'error');
      }
    });
    this.controls.push(this.pasteButton, this.oskButton, ...shortcuts, send, releaseAll);
    this.panel.append(layout.row, this.pasteButton, this.oskButton, menuSep(), menuHeading('Send'),
      ...shortcuts, sysrq.row, menuSep(), releaseAll);
  }

  /* ---- shortcuts ----------------------------------------------------------------------- */

  /** @param {string} keys codes joined by + */
  async shortcut(keys) {
    try {
      await apiPost('/api/hid/shortcut', { keys });
    } catch (err) {
      toast(`Could not send ${keys.replaceAll('+', ' + ')}: ${describeError(err)}`, 'error');
    }
  }

  /* ---- paste --------------------------------------------------------------------------- */

  #initPaste() {
    const dialog = this.paste.dialog;
    const form = this.paste.form;
    wireCloseButtons(dialog);
    this.pasteButton.addEventListener('click', () => {
      this.paste.layout.value = this.layout;
      if (!this.typing) this.#resetPasteStatus();
      dialog.showModal();
      this.paste.text.focus();
    });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.#type();
    });
    // Ctrl+Enter types, Enter alone makes a new line.
    this.paste.text.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        this.#type();
      }
    });
    this.paste.cancel.addEventListener('click', async () => {
      try {
        await apiPost('/api/hid/type/cancel');
      } catch (err) {
        showMessage(this.paste.error, describeError(err));
      }
    });
  }

  #resetPasteStatus() {
    hideMessage(this.paste.error);
    hideMessage(this.paste.done);
    this.paste.untyped.hidden = true;
    this.paste.untyped.replaceChildren();
    this.paste.progress.hidden = true;
  }

  async #type() {
    if (this.typing) return;
    const text = this.paste.text.value;
    if (!text) return;
    this.#resetPasteStatus();
    const submit = this.paste.submit;
    setBusy(submit, true);
    let result;
    try {
      result = await apiPost('/api/hid/type', {
        text,
        layout: this.paste.layout.value,
        delay_ms: Number(this.paste.delay.value),
      });
    } catch (err) {
      setBusy(submit, false);
      showMessage(this.paste.error, err instanceof ApiError && err.code === 'conflict'
        ? 'The device is still typing another text. Wait for it or stop it first.'
        : describeError(err));
      return;
    }
    this.typingId = result.id;
    this.#showUntyped(text, result.untyped || []);
    if (!result.strokes) {
      setBusy(submit, false);
      showMessage(this.paste.done, 'Nothing to type.');
      return;
    }
    this.typing = true;
    this.paste.progress.hidden = false;
    this.paste.bar.max = result.strokes;
    this.paste.bar.value = 0;
    setText(this.paste.count, `0 / ${result.strokes}`);
    this.paste.cancel.hidden = false;
    // A short text may be typed before this answer arrived: its events came first.
    const early = this.seen.get(result.id);
    if (early) this.onTypeEvent(early);
  }

  /**
   * @param {string} text
   * @param {{index: number, char?: string}[]} untyped
   */
  #showUntyped(text, untyped) {
    const box = this.paste.untyped;
    if (!untyped.length) {
      box.hidden = true;
      return;
    }
    const chars = [...text];
    const items = untyped.slice(0, 20).map((u) => {
      const ch = u.char !== undefined ? u.char : chars[u.index];
      const code = ch ? `U+${(ch.codePointAt(0) || 0).toString(16).toUpperCase().padStart(4, '0')}` : '';
      return el('li', {}, el('code', { text: JSON.stringify(ch) }), ` ${code} at position ${u.index + 1}`);
    });
    const more = untyped.length > 20 ? el('p', { text: `…and ${untyped.length - 20} more.` }) : null;
    const parts = [
      el('p', { text: `${untyped.length} character${untyped.length === 1 ? '' : 's'} cannot be typed on the ${this.paste.layout.selectedOptions[0].textContent} layout and ${untyped.length === 1 ? 'was' : 'were'} left out:` }),
      el('ul', { class: 'untyped-list' }, ...items),
    ];
    if (more) parts.push(more);
    box.replaceChildren(...parts);
    box.hidden = false;
  }

  /** @param {TypeEvent} data a hid_type event */
  onTypeEvent(data) {
    // Kept per id (the last few), for an answer that arrives after its own events.
    this.seen.set(data.id, data);
    const oldest = this.seen.keys().next();
    if (this.seen.size > 8 && !oldest.done) this.seen.delete(oldest.value);
    if (!this.typing || data.id !== this.typingId) return;
    const total = Number(data.total) || 0;
    const typed = Number(data.typed) || 0;
    this.paste.bar.max = Math.max(1, total);
    this.paste.bar.value = typed;
    setText(this.paste.count, `${typed} / ${total}`);
    if (data.state === 'typing') return;
    this.typing = false;
    setBusy(this.paste.submit, false);
    this.paste.cancel.hidden = true;
    if (data.state === 'done') showMessage(this.paste.done, `Typed ${total} key stroke${total === 1 ? '' : 's'}.`);
    else if (data.state === 'cancelled') showMessage(this.paste.error, `Stopped after ${typed} of ${total} key strokes.`);
    else showMessage(this.paste.error, `Typing failed after ${typed} of ${total} key strokes (the keyboard output went offline).`);
  }

  /* ---- on-screen keyboard -------------------------------------------------------------- */

  #initOsk() {
    const toggle = this.oskButton;
    toggle.addEventListener('click', () => this.showOsk(this.osk.root.hidden === true));
    this.osk.close.addEventListener('click', () => this.showOsk(false));
    const keys = this.osk.keys;
    keys.addEventListener('pointerdown', (ev) => this.#oskDown(ev));
    keys.addEventListener('pointerup', (ev) => this.#oskUp(ev));
    keys.addEventListener('pointercancel', (ev) => this.#oskUp(ev));
    keys.addEventListener('contextmenu', (ev) => ev.preventDefault());
    this.#renderOsk();
  }

  /** @param {boolean} show */
  showOsk(show) {
    this.osk.root.hidden = !show;
    this.oskButton.setAttribute('aria-pressed', show ? 'true' : 'false');
    if (!show) this.#releaseLatched();
  }

  #renderOsk() {
    const rows = geometryFor(this.layout);
    const legends = LEGENDS[this.layout] || {};
    /** @param {OskKey} k */
    const key = ([code, legend = '', width = 1]) => {
      if (!code) return el('span', { class: 'osk-gap' });
      const button = el('button', {
        type: 'button',
        class: `osk-key${MODIFIERS.has(code) ? ' osk-mod' : ''}`,
        'data-code': code,
        tabindex: '-1',
        text: legends[code] || legend,
      });
      // CSSOM, not a style attribute: allowed by the page's Content-Security-Policy.
      button.style.flexGrow = String(width);
      button.setAttribute('aria-label', code);
      return button;
    };
    const main = el('div', { class: 'osk-main' },
      ...rows.map((row) => el('div', { class: 'osk-row' }, ...row.map(key))));
    const nav = el('div', { class: 'osk-nav' },
      ...NAV.map((row) => el('div', { class: 'osk-row' }, ...row.map(key))));
    this.osk.keys.replaceChildren(main, nav);
    /** @type {Record<string, string>} */
    const names = { us: 'US', uk: 'UK', de: 'German', fr: 'French', jp: 'Japanese (JIS)' };
    setText(this.osk.title, `On-screen keyboard · ${names[this.layout]}`);
  }

  /** @param {PointerEvent} ev */
  #oskDown(ev) {
    const button = ev.target instanceof Element ? ev.target.closest('.osk-key') : null;
    if (!(button instanceof HTMLElement)) return;
    ev.preventDefault();
    if (!this.app.canControl()) return;
    const code = button.dataset.code;
    if (!code) return;
    if (MODIFIERS.has(code)) {
      // A modifier latches: it stays down until the next ordinary key is released, or is
      // clicked again.
      if (this.latched.has(code)) {
        this.latched.delete(code);
        this.input.tapKey(code, false);
        button.classList.remove('osk-on');
      } else {
        this.latched.add(code);
        this.input.tapKey(code, true);
        button.classList.add('osk-on');
      }
      return;
    }
    this.oskPressed.set(ev.pointerId, code);
    button.classList.add('osk-down');
    this.input.tapKey(code, true);
  }

  /** @param {PointerEvent} ev */
  #oskUp(ev) {
    const code = this.oskPressed.get(ev.pointerId);
    if (!code) return;
    this.oskPressed.delete(ev.pointerId);
    for (const b of this.osk.keys.querySelectorAll(`.osk-down[data-code="${code}"]`)) b.classList.remove('osk-down');
    this.input.tapKey(code, false);
    this.#releaseLatched();
  }

  #releaseLatched() {
    for (const code of this.latched) this.input.tapKey(code, false);
    this.latched.clear();
    for (const b of this.osk.keys.querySelectorAll('.osk-on')) b.classList.remove('osk-on');
  }
}
