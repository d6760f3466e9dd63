// @ts-check
/*
 * keyboard.js — the Keyboard menu: the target's layout (remembered in this browser), the
 * paste dialog, shortcut buttons, SysRq, releasing every key, and the on-screen keyboard.
 *
 * The menu's panel is built here from the tables below (menus.js has the pattern). It opens
 * the paste dialog (paste.js) and shows the on-screen keyboard (osk.js), both given to it,
 * and tells them the layout. Shortcuts go through /api/hid/shortcut (keys pressed in order,
 * released in reverse), so keys the browser keeps for itself (Ctrl+Alt+Del) reach the target.
 */

import { apiPost } from './api.js';
import { el, describeError, toast } from './ui.js';
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

export class KeyboardMenu extends Menu {
  /**
   * @param {{app: import('./app.js').App, paste: import('./paste.js').PasteDialog,
   *   osk: import('./osk.js').OnScreenKeyboard}} deps
   */
  constructor({ app, paste, osk }) {
    super({ id: 'keyboard', label: 'Keyboard' });
    this.app = app;
    this.paste = paste;
    this.osk = osk;
    this.layout = savedLayout();
    this.pasteButton = menuItem({ id: 'btn-paste', label: 'Paste text…' });
    this.pasteButton.addEventListener('click', () => this.paste.open(this.layout));
    this.oskButton = menuItem({ id: 'btn-osk', label: 'On-screen keyboard' });
    this.oskButton.setAttribute('aria-pressed', 'false');
    this.oskButton.addEventListener('click', () => this.osk.show(!this.osk.shown));
    this.osk.onVisibility((shown) => this.oskButton.setAttribute('aria-pressed', shown ? 'true' : 'false'));
    this.osk.setLayout(this.layout);
    this.paste.setLayout(this.layout);
    /** @type {HTMLButtonElement[]} what needs an operator and keyboard output */
    this.controls = [];
    this.#build();
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
      this.paste.setLayout(this.layout);
      this.osk.setLayout(this.layout);
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
}
