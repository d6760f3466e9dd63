// @ts-check
/*
 * keyboard.js — the Keyboard menu: the target's layout (remembered in this browser), the
 * paste dialog, shortcut buttons, SysRq, releasing every key, and the on-screen keyboard.
 *
 * The menu's panel is built here from the tables below (menus.js has the pattern). It opens
 * the paste dialog (paste.js) and shows the on-screen keyboard (osk.js), both given to it,
 * and tells them the layout. Shortcuts go through /api/hid/shortcut (keys pressed in order,
 * released in reverse), so keys the browser keeps for itself (Ctrl+Alt+Del) reach the target.
 *
 * The layout is the one chosen in this browser; before any choice it is `jp` for a browser
 * whose first language is Japanese (a Japanese PC is the likely target), else `us`.
 */

import { apiPost } from './api.js';
import { el, describeError, toast } from './ui.js';
import { Menu, menuHeading, menuItem, menuSelect, menuSep } from './menus.js';
import { browserLanguages, t } from './i18n.js';

const LAYOUT_KEY = 'ipkvm.layout';
/** The target layouts, by the device's names; each is named by `keyboard.layout.<name>`. */
export const LAYOUTS = ['us', 'uk', 'de', 'fr', 'jp'];

/**
 * The name of a device layout for people ("US English", "英語 (US)").
 * @param {string} layout
 */
export function layoutName(layout) {
  return t(`keyboard.layout.${layout}`);
}

/**
 * Key combinations the browser keeps for itself. The labels are key names, the same in every
 * language; `title` is the catalog key of what the combination does.
 * @type {readonly {keys: string, label: string, title: string}[]}
 */
const SHORTCUTS = [
  { keys: 'ControlLeft+AltLeft+Delete', label: 'Ctrl+Alt+Del', title: 'keyboard.shortcut.ctrl_alt_del' }, // i18n-ok: key names
  { keys: 'AltLeft+Tab', label: 'Alt+Tab', title: 'keyboard.shortcut.alt_tab' }, // i18n-ok: key names
  { keys: 'AltLeft+F4', label: 'Alt+F4', title: 'keyboard.shortcut.alt_f4' }, // i18n-ok: key names
  { keys: 'PrintScreen', label: 'PrintScreen', title: 'keyboard.shortcut.print_screen' }, // i18n-ok: key name
  { keys: 'MetaLeft', label: 'Win / Meta', title: 'keyboard.shortcut.meta' }, // i18n-ok: key names
  { keys: 'ControlLeft+AltLeft+Backspace', label: 'Ctrl+Alt+Backspace', title: 'keyboard.shortcut.ctrl_alt_backspace' }, // i18n-ok: key names
];

/** Linux magic SysRq keys (Alt+PrintScreen+key): the key's code, its letter, what it does. */
const SYSRQ = [['KeyR', 'R', 'keyboard.sysrq.r'], ['KeyE', 'E', 'keyboard.sysrq.e'],
  ['KeyI', 'I', 'keyboard.sysrq.i'], ['KeyS', 'S', 'keyboard.sysrq.s'], ['KeyU', 'U', 'keyboard.sysrq.u'],
  ['KeyB', 'B', 'keyboard.sysrq.b'], ['KeyO', 'O', 'keyboard.sysrq.o'], ['KeyH', 'H', 'keyboard.sysrq.h']];

/**
 * The layout chosen in this browser; before any choice, `jp` when the browser's first
 * language is Japanese, else `us`.
 * @returns {string}
 */
export function initialLayout() {
  let saved = null;
  try {
    saved = localStorage.getItem(LAYOUT_KEY);
  } catch {
    /* private mode */
  }
  if (saved && LAYOUTS.includes(saved)) return saved;
  const first = (browserLanguages()[0] || '').toLowerCase();
  return first === 'ja' || first.startsWith('ja-') ? 'jp' : 'us';
}

export class KeyboardMenu extends Menu {
  /**
   * @param {{app: import('./app.js').App, paste: import('./paste.js').PasteDialog,
   *   osk: import('./osk.js').OnScreenKeyboard}} deps
   */
  constructor({ app, paste, osk }) {
    super({ id: 'keyboard', label: t('keyboard.menu') });
    this.app = app;
    this.paste = paste;
    this.osk = osk;
    this.layout = initialLayout();
    this.pasteButton = menuItem({ id: 'btn-paste', label: t('keyboard.paste') });
    this.pasteButton.title = t('keyboard.paste_title');
    this.pasteButton.addEventListener('click', () => this.paste.open(this.layout));
    this.oskButton = menuItem({ id: 'btn-osk', label: t('keyboard.osk') });
    this.oskButton.title = t('keyboard.osk_title');
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
    const layout = menuSelect({
      id: 'kb-layout',
      label: t('keyboard.layout_label'),
      options: LAYOUTS.map((name) => /** @type {import('./menus.js').Option} */ ([name, layoutName(name)])),
    });
    layout.select.title = t('keyboard.layout_title');
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
    const shortcuts = SHORTCUTS.map(({ keys, label, title }) => {
      const b = menuItem({ label });
      b.title = t(title);
      b.dataset.keys = keys;
      b.addEventListener('click', () => this.shortcut(keys));
      return b;
    });
    const send = el('button', { type: 'button', class: 'btn btn-small', id: 'btn-sysrq', text: t('keyboard.send') });
    const sysrq = menuSelect({
      id: 'sysrq-key',
      label: 'SysRq', // i18n-ok: a key name
      options: SYSRQ.map(([code, letter, what]) =>
        /** @type {import('./menus.js').Option} */ ([code, `${letter} · ${t(what)}`])),
      extra: send,
    });
    sysrq.select.title = t('keyboard.sysrq_title');
    send.title = t('keyboard.sysrq_title');
    send.addEventListener('click', () => this.shortcut(`AltLeft+PrintScreen+${sysrq.select.value}`));
    const releaseAll = menuItem({ id: 'btn-release-all', label: t('keyboard.release_all') });
    releaseAll.title = t('keyboard.release_all_title');
    releaseAll.addEventListener('click', async () => {
      try {
        await apiPost('/api/hid/release_all');
        toast(t('keyboard.released'), 'ok', 3000);
      } catch (err) {
        toast(t('keyboard.release_failed', { error: describeError(err) }), 'error');
      }
    });
    this.controls.push(this.pasteButton, this.oskButton, ...shortcuts, send, releaseAll);
    this.panel.append(layout.row, this.pasteButton, this.oskButton, menuSep(), menuHeading(t('keyboard.send')),
      ...shortcuts, sysrq.row, menuSep(), releaseAll);
  }

  /* ---- shortcuts ----------------------------------------------------------------------- */

  /** @param {string} keys codes joined by + */
  async shortcut(keys) {
    try {
      await apiPost('/api/hid/shortcut', { keys });
    } catch (err) {
      toast(t('keyboard.shortcut_failed', { keys: keys.replaceAll('+', ' + '), error: describeError(err) }), 'error');
    }
  }
}
