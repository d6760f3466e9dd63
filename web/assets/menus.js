// @ts-check
/*
 * menus.js — the drop-down menus of the top bar, and the one pattern every menu follows.
 *
 * A menu is a class that extends Menu, in its own module (keyboard.js, mouse.js,
 * videomenu.js, power.js, msd.js). Its constructor gets everything it depends on as
 * arguments (the App, and the other parts it drives), builds its own button and panel from a
 * declared structure (tables of actions and options at the top of its module), and wires its
 * controls. `render()` brings the controls up to date with the App (enabled or not, checked
 * or not); console.js calls it whenever the shared state changes. The page (index.html) only
 * has the empty menu bar; console.js puts the menus into it in order.
 *
 * One menu is open at a time; a click outside, Escape, or choosing an action (a .menu-item)
 * closes it. Panels hold ordinary controls (buttons, selects, check boxes), so Tab works
 * inside them. Element ids are `mb-ID` for the button and `menu-ID` for the panel.
 *
 * Labels, notes and headings are texts for people: each menu passes them from the catalogs
 * (t()), built when the menu is constructed, which is after initI18n() (console.js).
 */

import { apiGet } from './api.js';
import { el, setText, describeError } from './ui.js';
import { t } from './i18n.js';

/** @type {Menu | null} */
let openMenu = null;

export class Menu {
  /**
   * @param {{id: string, label: string, wide?: boolean}} spec
   */
  constructor({ id, label, wide = false }) {
    this.id = id;
    this.button = el('button', {
      type: 'button', class: 'menu-button', id: `mb-${id}`, 'aria-haspopup': 'true',
      'aria-expanded': 'false', 'aria-controls': `menu-${id}`, text: label,
    });
    this.panel = el('div', { class: wide ? 'menu-panel menu-panel-wide' : 'menu-panel', id: `menu-${id}` });
    this.panel.hidden = true;
    this.root = el('div', { class: 'menu' }, this.button, this.panel);
    this.button.addEventListener('click', (ev) => {
      ev.stopPropagation();
      if (openMenu === this) closeMenus();
      else this.open();
    });
    this.panel.addEventListener('click', (ev) => {
      const item = ev.target instanceof Element ? ev.target.closest('.menu-item') : null;
      if (item && !(item instanceof HTMLButtonElement && item.disabled)) closeMenus();
    });
  }

  /** Brings the controls up to date with the shared state. Each menu has its own. */
  render() {}

  open() {
    closeMenus();
    openMenu = this;
    this.button.setAttribute('aria-expanded', 'true');
    this.panel.hidden = false;
    // Keep the panel inside the window on narrow screens.
    this.panel.classList.remove('menu-panel-right');
    const r = this.panel.getBoundingClientRect();
    if (r.right > window.innerWidth - 8) this.panel.classList.add('menu-panel-right');
  }

  /** @param {boolean} restoreFocus */
  close(restoreFocus) {
    if (openMenu !== this) return;
    openMenu = null;
    this.button.setAttribute('aria-expanded', 'false');
    this.panel.hidden = true;
    if (restoreFocus) this.button.focus();
  }
}

/** Closes the open menu, if any. */
export function closeMenus({ restoreFocus = false } = {}) {
  if (openMenu) openMenu.close(restoreFocus);
}

/**
 * Puts the menus into the menu bar, in order, and closes the open one on a click outside
 * or Escape.
 * @param {HTMLElement} bar
 * @param {Menu[]} menus
 */
export function initMenus(bar, menus) {
  bar.replaceChildren(...menus.map((m) => m.root));
  document.addEventListener('pointerdown', (ev) => {
    if (openMenu && !(ev.target instanceof Element && ev.target.closest('.menu'))) closeMenus();
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && openMenu) {
      ev.preventDefault();
      closeMenus({ restoreFocus: true });
    }
  });
}

/* ---- the parts a panel is built from --------------------------------------------------- */

/**
 * An action of a menu (a .menu-item button: choosing it closes the menu).
 * @param {{id?: string, label: string, note?: string, danger?: boolean}} item
 */
export function menuItem({ id, label, note, danger = false }) {
  const button = el('button', { type: 'button', class: danger ? 'menu-item menu-danger' : 'menu-item', id },
    label, note ? ' ' : null, note ? el('span', { class: 'menu-note', text: note }) : null);
  return button;
}

export function menuSep() {
  return el('div', { class: 'menu-sep', role: 'separator' });
}

/** @param {string} text */
export function menuHeading(text) {
  return el('p', { class: 'menu-heading', text });
}

/**
 * @typedef {[value: string, label: string]} Option
 */

/**
 * A labelled select; `extra` goes beside it (e.g. a Send button).
 * @param {{id: string, label: string, options: readonly Option[], extra?: HTMLElement}} spec
 * @returns {{row: HTMLDivElement, select: HTMLSelectElement}}
 */
export function menuSelect({ id, label, options, extra }) {
  const select = el('select', { id, class: 'menu-select' },
    ...options.map(([value, text]) => el('option', { value, text })));
  const control = extra ? el('div', { class: 'menu-inline' }, select, extra) : select;
  const row = el('div', { class: 'menu-row' }, el('label', { for: id, text: label }), control);
  return { row, select };
}

/**
 * A check box or radio button with its label and a note.
 * @param {{type: 'checkbox' | 'radio', id: string, label: string, note: string, name?: string,
 *   value?: string}} spec
 * @returns {{row: HTMLLabelElement, input: HTMLInputElement}}
 */
export function menuCheck({ type, id, label, note, name, value }) {
  const input = el('input', { type, id, name, value });
  const row = el('label', { class: 'menu-check' }, input, ` ${label} `, el('span', { class: 'menu-note', text: note }));
  return { row, input };
}

/**
 * A menu that shows one device service's state (power, virtual media): read with GET
 * `path` when the device has the service (setEnabled), then kept current by the service's
 * event (update). The status line at the top of the panel says when it cannot be read.
 * @template S the state's shape
 */
export class ServiceMenu extends Menu {
  /**
   * @param {{id: string, label: string, wide?: boolean, path: string, unreadable: string}} spec
   *   path: the state's GET; unreadable: the status line's words when that fails (translated)
   */
  constructor({ path, unreadable, ...spec }) {
    super(spec);
    this.path = path;
    this.unreadable = unreadable;
    /** Whether the device has the service at all (GET /api/info backends). */
    this.enabled = false;
    /** @type {S | null} */
    this.state = null;
    this.status = el('p', { class: 'menu-status', id: `${spec.id}-status` });
    this.panel.append(this.status);
  }

  /** @param {boolean} enabled */
  setEnabled(enabled) {
    this.enabled = enabled;
    if (!enabled) this.state = null;
    this.render();
  }

  async load() {
    if (!this.enabled) return;
    try {
      this.update(await apiGet(this.path));
    } catch (err) {
      setText(this.status, t('common.unreadable', { what: this.unreadable, error: describeError(err) }));
    }
  }

  /** @param {S} state */
  update(state) {
    this.state = state;
    this.render();
  }
}
