/*
 * keyboard.js — the Keyboard menu: the target's layout (remembered in this browser), the
 * paste dialog, shortcut buttons, SysRq and the on-screen keyboard.
 *
 * Pasted text is typed by the device (POST /api/hid/type) for the chosen layout; progress
 * comes back as `hid_type` events, and characters the layout cannot type are listed for the
 * operator instead of being dropped silently. Shortcuts go through /api/hid/shortcut (keys
 * pressed in order, released in reverse). The on-screen keyboard sends key downs and ups over
 * the event socket like the physical keyboard; modifiers latch until the next key.
 */

import { apiPost } from './api.js';
import { $, el, setText, describeError, showMessage, hideMessage, toast, wireCloseButtons, setBusy } from './ui.js';

const LAYOUT_KEY = 'ipkvm.layout';
const LAYOUTS = ['us', 'uk', 'de', 'fr', 'jp'];

/* ---- the on-screen keyboard: rows of [code, legend, width] -------------------------------- */

const FN_ROW = [['Escape', 'Esc', 1.25], ['F1', 'F1'], ['F2', 'F2'], ['F3', 'F3'], ['F4', 'F4'],
  ['F5', 'F5'], ['F6', 'F6'], ['F7', 'F7'], ['F8', 'F8'], ['F9', 'F9'], ['F10', 'F10'],
  ['F11', 'F11'], ['F12', 'F12'], ['PrintScreen', 'PrtSc'], ['ScrollLock', 'ScrLk'],
  ['Pause', 'Pause']];

function letters(s) {
  return [...s].map((c) => [`Key${c.toUpperCase()}`, c.toUpperCase()]);
}

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

// Legends that differ from the geometry's defaults, per layout.
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

const NAV = [
  [['Insert', 'Ins'], ['Home', 'Home'], ['PageUp', 'PgUp']],
  [['Delete', 'Del'], ['End', 'End'], ['PageDown', 'PgDn']],
  [[null], ['ArrowUp', '↑'], [null]],
  [['ArrowLeft', '←'], ['ArrowDown', '↓'], ['ArrowRight', '→']],
];

const MODIFIERS = new Set(['ControlLeft', 'ControlRight', 'ShiftLeft', 'ShiftRight', 'AltLeft',
  'AltRight', 'MetaLeft', 'MetaRight']);

function geometryFor(layout) {
  if (layout === 'jp') return JIS;
  if (layout === 'us') return ANSI;
  return ISO;
}

export class KeyboardMenu {
  /* ctx: { input (InputCapture), canControl(), socketConnected(), onOskToggle() } */
  constructor(ctx) {
    this.ctx = ctx;
    this.layout = LAYOUTS.includes(localStorage.getItem(LAYOUT_KEY)) ? localStorage.getItem(LAYOUT_KEY) : 'us';
    this.typingId = 0;
    this.typing = false;
    this.seen = new Map(); // id -> newest hid_type event
    this.latched = new Set();
    this.oskPressed = new Map(); // pointerId -> code
    this.#initLayout();
    this.#initShortcuts();
    this.#initPaste();
    this.#initOsk();
  }

  /* ---- layout -------------------------------------------------------------------------- */

  #initLayout() {
    const select = $('kb-layout');
    select.value = this.layout;
    select.addEventListener('change', () => {
      this.layout = select.value;
      try {
        localStorage.setItem(LAYOUT_KEY, this.layout);
      } catch {
        /* private mode: not remembered */
      }
      $('paste-layout').value = this.layout;
      this.#renderOsk();
    });
  }

  /* ---- shortcuts ----------------------------------------------------------------------- */

  async shortcut(keys) {
    try {
      await apiPost('/api/hid/shortcut', { keys });
    } catch (err) {
      toast(`Could not send ${keys.replaceAll('+', ' + ')}: ${describeError(err)}`, 'error');
    }
  }

  #initShortcuts() {
    for (const button of document.querySelectorAll('[data-keys]')) {
      button.addEventListener('click', () => this.shortcut(button.dataset.keys));
    }
    $('btn-sysrq').addEventListener('click', () => {
      this.shortcut(`AltLeft+PrintScreen+${$('sysrq-key').value}`);
    });
    $('btn-release-all').addEventListener('click', async () => {
      try {
        await apiPost('/api/hid/release_all');
        toast('Every key and button was released on the target.', 'ok', 3000);
      } catch (err) {
        toast(`Could not release the keys: ${describeError(err)}`, 'error');
      }
    });
  }

  /* ---- paste --------------------------------------------------------------------------- */

  #initPaste() {
    const dialog = $('paste-dialog');
    const form = $('paste-form');
    wireCloseButtons(dialog);
    $('btn-paste').addEventListener('click', () => {
      $('paste-layout').value = this.layout;
      if (!this.typing) this.#resetPasteStatus();
      dialog.showModal();
      $('paste-text').focus();
    });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.#type();
    });
    // Ctrl+Enter types, Enter alone makes a new line.
    $('paste-text').addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        this.#type();
      }
    });
    $('paste-cancel').addEventListener('click', async () => {
      try {
        await apiPost('/api/hid/type/cancel');
      } catch (err) {
        showMessage($('paste-error'), describeError(err));
      }
    });
  }

  #resetPasteStatus() {
    hideMessage($('paste-error'));
    hideMessage($('paste-done'));
    $('paste-untyped').hidden = true;
    $('paste-untyped').replaceChildren();
    $('paste-progress').hidden = true;
  }

  async #type() {
    if (this.typing) return;
    const text = $('paste-text').value;
    if (!text) return;
    this.#resetPasteStatus();
    const submit = $('paste-submit');
    setBusy(submit, true);
    let result;
    try {
      result = await apiPost('/api/hid/type', {
        text,
        layout: $('paste-layout').value,
        delay_ms: Number($('paste-delay').value),
      });
    } catch (err) {
      setBusy(submit, false);
      showMessage($('paste-error'), err.code === 'conflict'
        ? 'The device is still typing another text. Wait for it or stop it first.'
        : describeError(err));
      return;
    }
    this.typingId = result.id;
    this.#showUntyped(text, result.untyped || []);
    if (!result.strokes) {
      setBusy(submit, false);
      showMessage($('paste-done'), 'Nothing to type.');
      return;
    }
    this.typing = true;
    $('paste-progress').hidden = false;
    $('paste-bar').max = result.strokes;
    $('paste-bar').value = 0;
    setText($('paste-count'), `0 / ${result.strokes}`);
    $('paste-cancel').hidden = false;
    // A short text may be typed before this answer arrived: its events came first.
    const early = this.seen.get(result.id);
    if (early) this.onTypeEvent(early);
  }

  #showUntyped(text, untyped) {
    const box = $('paste-untyped');
    if (!untyped.length) {
      box.hidden = true;
      return;
    }
    const chars = [...text];
    const items = untyped.slice(0, 20).map((u) => {
      const ch = u.char !== undefined ? u.char : chars[u.index];
      const code = ch ? `U+${ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}` : '';
      return el('li', {}, el('code', { text: JSON.stringify(ch) }), ` ${code} at position ${u.index + 1}`);
    });
    const more = untyped.length > 20 ? el('p', { text: `…and ${untyped.length - 20} more.` }) : null;
    const parts = [
      el('p', { text: `${untyped.length} character${untyped.length === 1 ? '' : 's'} cannot be typed on the ${$('paste-layout').selectedOptions[0].textContent} layout and ${untyped.length === 1 ? 'was' : 'were'} left out:` }),
      el('ul', { class: 'untyped-list' }, ...items),
    ];
    if (more) parts.push(more);
    box.replaceChildren(...parts);
    box.hidden = false;
  }

  /* hid_type events: {id, state, typed, total}. */
  onTypeEvent(data) {
    // Kept per id (the last few), for an answer that arrives after its own events.
    this.seen.set(data.id, data);
    if (this.seen.size > 8) this.seen.delete(this.seen.keys().next().value);
    if (!this.typing || data.id !== this.typingId) return;
    const total = Number(data.total) || 0;
    const typed = Number(data.typed) || 0;
    $('paste-bar').max = Math.max(1, total);
    $('paste-bar').value = typed;
    setText($('paste-count'), `${typed} / ${total}`);
    if (data.state === 'typing') return;
    this.typing = false;
    setBusy($('paste-submit'), false);
    $('paste-cancel').hidden = true;
    if (data.state === 'done') showMessage($('paste-done'), `Typed ${total} key stroke${total === 1 ? '' : 's'}.`);
    else if (data.state === 'cancelled') showMessage($('paste-error'), `Stopped after ${typed} of ${total} key strokes.`);
    else showMessage($('paste-error'), `Typing failed after ${typed} of ${total} key strokes (the keyboard output went offline).`);
  }

  /* ---- on-screen keyboard -------------------------------------------------------------- */

  #initOsk() {
    const toggle = $('btn-osk');
    toggle.addEventListener('click', () => this.showOsk($('osk').hidden));
    $('osk-close').addEventListener('click', () => this.showOsk(false));
    const keys = $('osk-keys');
    keys.addEventListener('pointerdown', (ev) => this.#oskDown(ev));
    keys.addEventListener('pointerup', (ev) => this.#oskUp(ev));
    keys.addEventListener('pointercancel', (ev) => this.#oskUp(ev));
    keys.addEventListener('contextmenu', (ev) => ev.preventDefault());
    this.#renderOsk();
  }

  showOsk(show) {
    $('osk').hidden = !show;
    $('btn-osk').setAttribute('aria-pressed', show ? 'true' : 'false');
    if (!show) this.#releaseLatched();
    if (this.ctx.onOskToggle) this.ctx.onOskToggle(show);
  }

  #renderOsk() {
    const rows = geometryFor(this.layout);
    const legends = LEGENDS[this.layout] || {};
    const key = ([code, legend, width = 1]) => {
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
    $('osk-keys').replaceChildren(main, nav);
    const names = { us: 'US', uk: 'UK', de: 'German', fr: 'French', jp: 'Japanese (JIS)' };
    setText($('osk-title'), `On-screen keyboard · ${names[this.layout]}`);
  }

  #oskDown(ev) {
    const button = ev.target.closest('.osk-key');
    if (!button) return;
    ev.preventDefault();
    if (!this.ctx.canControl()) return;
    const code = button.dataset.code;
    if (MODIFIERS.has(code)) {
      // A modifier latches: it stays down until the next ordinary key is released, or is
      // clicked again.
      if (this.latched.has(code)) {
        this.latched.delete(code);
        this.ctx.input.tapKey(code, false);
        button.classList.remove('osk-on');
      } else {
        this.latched.add(code);
        this.ctx.input.tapKey(code, true);
        button.classList.add('osk-on');
      }
      return;
    }
    this.oskPressed.set(ev.pointerId, code);
    button.classList.add('osk-down');
    this.ctx.input.tapKey(code, true);
  }

  #oskUp(ev) {
    const code = this.oskPressed.get(ev.pointerId);
    if (!code) return;
    this.oskPressed.delete(ev.pointerId);
    for (const b of $('osk-keys').querySelectorAll(`.osk-down[data-code="${code}"]`)) b.classList.remove('osk-down');
    this.ctx.input.tapKey(code, false);
    this.#releaseLatched();
  }

  #releaseLatched() {
    for (const code of this.latched) this.ctx.input.tapKey(code, false);
    this.latched.clear();
    for (const b of $('osk-keys').querySelectorAll('.osk-on')) b.classList.remove('osk-on');
  }
}
