// @ts-check
/*
 * osk.js — the on-screen keyboard: a keyboard drawn for the target's layout (ANSI for us, ISO
 * for uk/de/fr, JIS for jp) whose keys are sent like the physical keyboard's, as key downs
 * and ups over the event socket (InputCapture.tapKey). Modifiers latch: a click holds one
 * until the next ordinary key is released, or until it is clicked again.
 *
 * Legends that are words (Shift, Enter, 変換…) are catalog keys, `osk.key.*`, so each language
 * names the keys as its keyboards print them; single characters stay as they are.
 *
 * Its markup is a section of the page's workspace (index.html #osk: a title, a close button
 * and an empty #osk-keys); this class is given that element and draws the keys into it. The
 * Keyboard menu shows and hides it and tells it the layout.
 */

import { el, part, setText } from './ui.js';
import { t } from './i18n.js';
import { layoutName } from './keyboard.js';

/* ---- the keyboards: rows of [code, legend, width] ----------------------------------------- */

/**
 * A legend is the character printed on the key, or the catalog key of a word ('osk.key.…').
 * @typedef {[code: string | null, legend?: string, width?: number]} OskKey
 */

const WORD = 'osk.key.';
/** @type {Record<string, string>} the names of the keys whose legend is a glyph */
const GLYPH_NAMES = {
  Backspace: 'osk.glyph.backspace',
  ArrowUp: 'osk.glyph.up',
  ArrowDown: 'osk.glyph.down',
  ArrowLeft: 'osk.glyph.left',
  ArrowRight: 'osk.glyph.right',
};

/** @type {OskKey[]} */
const FN_ROW = [['Escape', 'osk.key.esc', 1.25], ['F1', 'F1'], ['F2', 'F2'], ['F3', 'F3'], ['F4', 'F4'],
  ['F5', 'F5'], ['F6', 'F6'], ['F7', 'F7'], ['F8', 'F8'], ['F9', 'F9'], ['F10', 'F10'],
  ['F11', 'F11'], ['F12', 'F12'], ['PrintScreen', 'osk.key.prtsc'], ['ScrollLock', 'osk.key.scrlk'],
  ['Pause', 'osk.key.pause']];

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
    ['Digit0', '0'], ['Minus', '-'], ['Equal', '='], ['Backspace', 'osk.key.backspace', 2]],
  [['Tab', 'osk.key.tab', 1.5], ...letters('qwertyuiop'), ['BracketLeft', '['], ['BracketRight', ']'],
    ['Backslash', '\\', 1.5]],
  [['CapsLock', 'osk.key.caps', 1.75], ...letters('asdfghjkl'), ['Semicolon', ';'], ['Quote', "'"],
    ['Enter', 'osk.key.enter', 2.25]],
  [['ShiftLeft', 'osk.key.shift', 2.25], ...letters('zxcvbnm'), ['Comma', ','], ['Period', '.'],
    ['Slash', '/'], ['ShiftRight', 'osk.key.shift', 2.75]],
  [['ControlLeft', 'osk.key.ctrl', 1.5], ['MetaLeft', 'osk.key.win', 1.25], ['AltLeft', 'osk.key.alt', 1.25],
    ['Space', '', 6.25], ['AltRight', 'osk.key.altgr', 1.25], ['MetaRight', 'osk.key.win', 1.25],
    ['ContextMenu', 'osk.key.menu', 1.25], ['ControlRight', 'osk.key.ctrl', 1.5]],
];

/** @type {OskKey[][]} */
const ISO = [
  FN_ROW,
  ANSI[1],
  [['Tab', 'osk.key.tab', 1.5], ...letters('qwertyuiop'), ['BracketLeft', '['], ['BracketRight', ']'],
    ['Enter', 'osk.key.enter', 1.5]],
  [['CapsLock', 'osk.key.caps', 1.75], ...letters('asdfghjkl'), ['Semicolon', ';'], ['Quote', "'"],
    ['Backslash', '#', 1], ['Enter', '', 1.25]],
  [['ShiftLeft', 'osk.key.shift', 1.25], ['IntlBackslash', '\\'], ...letters('zxcvbnm'), ['Comma', ','],
    ['Period', '.'], ['Slash', '/'], ['ShiftRight', 'osk.key.shift', 2.75]],
  ANSI[5],
];

/** @type {OskKey[][]} */
const JIS = [
  FN_ROW,
  [['Backquote', 'osk.key.hankaku_zenkaku'], ['Digit1', '1'], ['Digit2', '2'], ['Digit3', '3'], ['Digit4', '4'],
    ['Digit5', '5'], ['Digit6', '6'], ['Digit7', '7'], ['Digit8', '8'], ['Digit9', '9'],
    ['Digit0', '0'], ['Minus', '-'], ['Equal', '^'], ['IntlYen', '¥'], ['Backspace', '⌫', 1]],
  [['Tab', 'osk.key.tab', 1.5], ...letters('qwertyuiop'), ['BracketLeft', '@'], ['BracketRight', '['],
    ['Enter', 'osk.key.enter', 1.5]],
  [['CapsLock', 'osk.key.eisu', 1.75], ...letters('asdfghjkl'), ['Semicolon', ';'], ['Quote', ':'],
    ['Backslash', ']'], ['Enter', '', 1.25]],
  [['ShiftLeft', 'osk.key.shift', 2.25], ...letters('zxcvbnm'), ['Comma', ','], ['Period', '.'],
    ['Slash', '/'], ['IntlRo', '\\'], ['ShiftRight', 'osk.key.shift', 1.75]],
  [['ControlLeft', 'osk.key.ctrl', 1.5], ['MetaLeft', 'osk.key.win', 1.25], ['AltLeft', 'osk.key.alt', 1.25],
    ['NonConvert', 'osk.key.muhenkan', 1.25], ['Space', '', 3.5], ['Convert', 'osk.key.henkan', 1.25],
    ['KanaMode', 'osk.key.kana', 1.25], ['AltRight', 'osk.key.alt', 1.25], ['ControlRight', 'osk.key.ctrl', 1.5]],
];

/** @type {Record<string, Record<string, string>>} legends that differ from the geometry's, per layout */
const LEGENDS = {
  uk: { Digit2: '2 "', Digit3: '3 £', Quote: "' @", Backquote: '`' },
  de: {
    KeyY: 'Z', KeyZ: 'Y', Minus: 'ß', Equal: '´', BracketLeft: 'Ü', BracketRight: '+', // i18n-ok: keycap characters
    Semicolon: 'Ö', Quote: 'Ä', Backslash: '#', Backquote: '^', IntlBackslash: '<', Slash: '-', // i18n-ok: keycap characters
    Comma: ',', Period: '.',
  },
  fr: {
    KeyQ: 'A', KeyW: 'Z', KeyA: 'Q', KeyZ: 'W', Semicolon: 'M', KeyM: ',', Comma: ';',
    Period: ':', Slash: '!', Digit1: '&', Digit2: 'é', Digit3: '"', Digit4: "'", Digit5: '(', // i18n-ok: keycap characters
    Digit6: '-', Digit7: 'è', Digit8: '_', Digit9: 'ç', Digit0: 'à', Minus: ')', Equal: '=', // i18n-ok: keycap characters
    BracketLeft: '^', BracketRight: '$', Quote: 'ù', Backslash: '*', Backquote: '²', // i18n-ok: keycap characters
    IntlBackslash: '<',
  },
};

/** @type {OskKey[][]} */
const NAV = [
  [['Insert', 'osk.key.insert'], ['Home', 'osk.key.home'], ['PageUp', 'osk.key.page_up']],
  [['Delete', 'osk.key.delete'], ['End', 'osk.key.end'], ['PageDown', 'osk.key.page_down']],
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
 * How wide a legend is, in widths of a Latin letter (a CJK character is two).
 * @param {string} text
 */
function columns(text) {
  let n = 0;
  for (const ch of text) n += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\uff00-\uff60]/.test(ch) ? 2 : 1;
  return n;
}

export class OnScreenKeyboard {
  /**
   * @param {{root: HTMLElement, app: import('./app.js').App,
   *   input: import('./input.js').InputCapture}} deps
   *   root: the page's #osk section; input: sends the keys
   */
  constructor({ root, app, input }) {
    this.parts = {
      root,
      keys: part(root, 'osk-keys', HTMLElement),
      title: part(root, 'osk-title', HTMLElement),
      close: part(root, 'osk-close', HTMLButtonElement),
    };
    this.app = app;
    this.input = input;
    this.layout = 'us';
    /** @type {Set<string>} modifiers held until the next key */
    this.latched = new Set();
    /** @type {Map<number, string>} pointerId -> code */
    this.pressed = new Map();
    /** @type {Set<(shown: boolean) => void>} */
    this.visibilityListeners = new Set();
    this.parts.close.addEventListener('click', () => this.show(false));
    const keys = this.parts.keys;
    keys.addEventListener('pointerdown', (ev) => this.#down(ev));
    keys.addEventListener('pointerup', (ev) => this.#up(ev));
    keys.addEventListener('pointercancel', (ev) => this.#up(ev));
    keys.addEventListener('contextmenu', (ev) => ev.preventDefault());
    this.#render();
  }

  get shown() {
    return !this.parts.root.hidden;
  }

  /** @param {boolean} show */
  show(show) {
    this.parts.root.hidden = !show;
    if (!show) this.#releaseLatched();
    for (const fn of this.visibilityListeners) fn(show);
  }

  /**
   * fn(shown) whenever it is shown or hidden.
   * @param {(shown: boolean) => void} fn
   */
  onVisibility(fn) {
    this.visibilityListeners.add(fn);
  }

  /**
   * Draws the keys of this layout (a device layout name: us, uk, de, fr, jp).
   * @param {string} layout
   */
  setLayout(layout) {
    this.layout = layout;
    this.#render();
  }

  #render() {
    const rows = geometryFor(this.layout);
    const legends = LEGENDS[this.layout] || {};
    /** @param {OskKey} k */
    const key = ([code, legend = '', width = 1]) => {
      if (!code) return el('span', { class: 'osk-gap' });
      const word = legend.startsWith(WORD);
      const text = legends[code] || (word ? t(legend) : legend);
      const button = el('button', {
        type: 'button',
        class: `osk-key${MODIFIERS.has(code) ? ' osk-mod' : ''}`,
        'data-code': code,
        tabindex: '-1',
        text,
      });
      // CSSOM, not a style attribute: allowed by the page's Content-Security-Policy.
      button.style.flexGrow = String(width);
      if (word) {
        button.title = text;
        // A long name (カタカナ/ひらがな) gets a smaller font and two lines rather than cut off.
        if (columns(text) > 6 * width) {
          button.style.whiteSpace = 'normal';
          button.style.fontSize = '0.625rem';
          button.style.lineHeight = '1.1';
        }
      }
      // Screen readers say what the key shows, or its name where it shows a glyph (⌫, ←).
      button.setAttribute('aria-label', code in GLYPH_NAMES ? t(GLYPH_NAMES[code]) : text);
      return button;
    };
    const main = el('div', { class: 'osk-main' },
      ...rows.map((row) => el('div', { class: 'osk-row' }, ...row.map(key))));
    const nav = el('div', { class: 'osk-nav' },
      ...NAV.map((row) => el('div', { class: 'osk-row' }, ...row.map(key))));
    this.parts.keys.replaceChildren(main, nav);
    setText(this.parts.title, t('osk.title', { layout: layoutName(this.layout) }));
  }

  /** @param {PointerEvent} ev */
  #down(ev) {
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
    this.pressed.set(ev.pointerId, code);
    button.classList.add('osk-down');
    this.input.tapKey(code, true);
  }

  /** @param {PointerEvent} ev */
  #up(ev) {
    const code = this.pressed.get(ev.pointerId);
    if (!code) return;
    this.pressed.delete(ev.pointerId);
    for (const b of this.parts.keys.querySelectorAll(`.osk-down[data-code="${code}"]`)) b.classList.remove('osk-down');
    this.input.tapKey(code, false);
    this.#releaseLatched();
  }

  #releaseLatched() {
    for (const code of this.latched) this.input.tapKey(code, false);
    this.latched.clear();
    for (const b of this.parts.keys.querySelectorAll('.osk-on')) b.classList.remove('osk-on');
  }
}
