// @ts-check
/*
 * power.js — the Power menu: the target's power and disk lights and the ATX actions.
 *
 * State comes from GET /api/atx and the `atx` event ({driver, busy, leds, wired}). While an
 * action runs (busy) every action button is disabled, so the UI never asks for a second one
 * (the device would answer 409). Actions that can lose data ask for confirmation first.
 */

import { ApiError, apiPost } from './api.js';
import { el, setText, describeError, toast, confirmAction } from './ui.js';
import { ServiceMenu, menuHeading, menuItem, menuSep } from './menus.js';

/**
 * One action of the menu: its button (id, text, note, drawn red when it can lose data), the
 * request it makes, and the question asked first when it can lose data.
 * @typedef {object} PowerAction
 * @property {string} id
 * @property {string} text the button's text
 * @property {string} [note]
 * @property {string} path
 * @property {object} body
 * @property {string} label what a confirmation and an error message call it
 * @property {string} [confirm]
 */

/** @type {readonly PowerAction[]} */
const POWER_ACTIONS = [
  { id: 'atx-on', text: 'Power on', path: '/api/atx/power', body: { action: 'on' }, label: 'Power on' },
  {
    id: 'atx-off', text: 'Shut down', note: 'like a short press, when on',
    path: '/api/atx/power', body: { action: 'off' }, label: 'Shut down',
  },
  {
    id: 'atx-off-hard', text: 'Power off (hard)', note: 'may lose data',
    path: '/api/atx/power', body: { action: 'off_hard' }, label: 'Power off (hard)',
    confirm: 'Cut the power of the target now? Unsaved work on it is lost.',
  },
  {
    id: 'atx-reset-hard', text: 'Reset (hard)',
    path: '/api/atx/power', body: { action: 'reset_hard' }, label: 'Reset',
    confirm: 'Reset the target now? Unsaved work on it is lost.',
  },
];

/** @type {readonly PowerAction[]} */
const BUTTON_ACTIONS = [
  { id: 'atx-click-power', text: 'Press power', path: '/api/atx/click', body: { button: 'power' }, label: 'Press power' },
  {
    id: 'atx-click-power-long', text: 'Hold power (5 s)',
    path: '/api/atx/click', body: { button: 'power_long' }, label: 'Hold power',
    confirm: 'Hold the power button for 5 seconds? A running target is switched off hard.',
  },
  {
    id: 'atx-click-reset', text: 'Press reset', path: '/api/atx/click', body: { button: 'reset' }, label: 'Press reset',
    confirm: 'Press the reset button of the target? Unsaved work on it is lost.',
  },
];

/**
 * GET /api/atx and the `atx` event.
 * @typedef {object} AtxState
 * @property {string} [driver]
 * @property {boolean} [busy]
 * @property {{power?: boolean, hdd?: boolean}} [leds]
 * @property {{power_led?: boolean, hdd_led?: boolean}} [wired]
 */

/** @extends {ServiceMenu<AtxState>} */
export class PowerMenu extends ServiceMenu {
  /** @param {{app: import('./app.js').App}} deps */
  constructor({ app }) {
    super({ id: 'power', label: 'Power', path: '/api/atx', unreadable: 'Power state unknown' });
    this.app = app;
    this.sending = false;
    this.ledPower = el('span', { class: 'led', id: 'atx-led-power', 'data-on': 'false', text: 'power' });
    this.ledHdd = el('span', { class: 'led', id: 'atx-led-hdd', 'data-on': 'false', text: 'disk' });
    /** @type {HTMLButtonElement[]} */
    this.actionButtons = [];
    /** @param {PowerAction} action */
    const button = (action) => {
      const b = menuItem({ id: action.id, label: action.text, note: action.note, danger: Boolean(action.confirm) });
      b.addEventListener('click', () => this.#run(action));
      this.actionButtons.push(b);
      return b;
    };
    this.panel.append(
      el('div', { class: 'menu-leds' }, this.ledPower, this.ledHdd),
      menuSep(),
      ...POWER_ACTIONS.map(button),
      menuSep(),
      menuHeading('Front panel buttons'),
      ...BUTTON_ACTIONS.map(button),
    );
    this.render();
  }

  /** @override */
  render() {
    const s = this.state;
    const leds = (s && s.leds) || {};
    const wired = (s && s.wired) || {};
    /**
     * @param {HTMLElement} node
     * @param {boolean | undefined} on
     * @param {boolean | undefined} isWired
     */
    const led = (node, on, isWired) => {
      node.dataset.on = on ? 'true' : 'false';
      node.classList.toggle('led-unwired', isWired === false);
    };
    led(this.ledPower, leds.power, wired.power_led);
    led(this.ledHdd, leds.hdd, wired.hdd_led);
    let text;
    if (!this.enabled) text = 'Power control is not configured on this device.';
    else if (!s) text = 'Reading the power state…';
    else if (s.busy) text = 'A power action is running…';
    else if (wired.power_led === false) text = 'The power light is not wired: the state is unknown.';
    else text = leds.power ? 'The target is on.' : 'The target is off.';
    setText(this.status, text);
    const usable = this.enabled && s && !s.busy && !this.sending && this.app.canAct();
    for (const b of this.actionButtons) b.disabled = !usable;
    this.button.classList.toggle('menu-button-on', Boolean(leds.power));
  }

  /** @param {PowerAction} action */
  async #run(action) {
    if (action.confirm) {
      const ok = await confirmAction({ title: action.label, text: action.confirm, confirmLabel: action.label });
      if (!ok) return;
    }
    if (this.state && this.state.busy) return;
    this.sending = true;
    this.render();
    try {
      const result = await apiPost(action.path, action.body);
      if (result && result.leds) this.update(result);
    } catch (err) {
      toast(`${action.label}: ${err instanceof ApiError && err.code === 'conflict' ? 'another power action is still running.' : describeError(err)}`, 'error');
    } finally {
      this.sending = false;
      this.render();
    }
  }
}
