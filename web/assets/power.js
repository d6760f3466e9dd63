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
import { t } from './i18n.js';

/**
 * One action of the menu: its button (id, text, note, drawn red when it can lose data), the
 * request it makes, and the question asked first when it can lose data. The texts are
 * catalog keys, looked up when the menu is built (or the action run).
 * @typedef {object} PowerAction
 * @property {string} id
 * @property {string} textKey the button's text
 * @property {string} [noteKey]
 * @property {string} path
 * @property {object} body
 * @property {string} labelKey what a confirmation and an error message call it
 * @property {string} [confirmKey]
 */

/** @type {readonly PowerAction[]} */
const POWER_ACTIONS = [
  { id: 'atx-on', textKey: 'power.on', path: '/api/atx/power', body: { action: 'on' }, labelKey: 'power.on' },
  {
    id: 'atx-off', textKey: 'power.off', noteKey: 'power.off_note',
    path: '/api/atx/power', body: { action: 'off' }, labelKey: 'power.off',
  },
  {
    id: 'atx-off-hard', textKey: 'power.off_hard', noteKey: 'power.off_hard_note',
    path: '/api/atx/power', body: { action: 'off_hard' }, labelKey: 'power.off_hard_label',
    confirmKey: 'power.off_hard_confirm',
  },
  {
    id: 'atx-reset-hard', textKey: 'power.reset_hard',
    path: '/api/atx/power', body: { action: 'reset_hard' }, labelKey: 'power.reset_label',
    confirmKey: 'power.reset_confirm',
  },
];

/** @type {readonly PowerAction[]} */
const BUTTON_ACTIONS = [
  {
    id: 'atx-click-power', textKey: 'power.press_power',
    path: '/api/atx/click', body: { button: 'power' }, labelKey: 'power.press_power',
  },
  {
    id: 'atx-click-power-long', textKey: 'power.hold_power',
    path: '/api/atx/click', body: { button: 'power_long' }, labelKey: 'power.hold_power_label',
    confirmKey: 'power.hold_power_confirm',
  },
  {
    id: 'atx-click-reset', textKey: 'power.press_reset',
    path: '/api/atx/click', body: { button: 'reset' }, labelKey: 'power.press_reset',
    confirmKey: 'power.press_reset_confirm',
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
    super({ id: 'power', label: t('power.menu'), path: '/api/atx', unreadable: t('power.unreadable') });
    this.app = app;
    this.sending = false;
    this.ledPower = el('span', { class: 'led', id: 'atx-led-power', 'data-on': 'false', text: t('power.led_power') });
    this.ledHdd = el('span', { class: 'led', id: 'atx-led-hdd', 'data-on': 'false', text: t('power.led_hdd') });
    /** @type {HTMLButtonElement[]} */
    this.actionButtons = [];
    /** @param {PowerAction} action */
    const button = (action) => {
      const b = menuItem({
        id: action.id, label: t(action.textKey), note: action.noteKey ? t(action.noteKey) : undefined,
        danger: Boolean(action.confirmKey),
      });
      b.addEventListener('click', () => this.#run(action));
      this.actionButtons.push(b);
      return b;
    };
    this.panel.append(
      el('div', { class: 'menu-leds' }, this.ledPower, this.ledHdd),
      menuSep(),
      ...POWER_ACTIONS.map(button),
      menuSep(),
      menuHeading(t('power.buttons')),
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
     * @param {'power' | 'hdd'} name
     * @param {boolean | undefined} on
     * @param {boolean | undefined} isWired
     */
    const led = (node, name, on, isWired) => {
      node.dataset.on = on ? 'true' : 'false';
      node.classList.toggle('led-unwired', isWired === false);
      let state = on ? 'on' : 'off';
      if (isWired === false) state = 'unwired';
      else if (!s) state = 'unknown';
      node.title = t(`power.led.${name}_${state}`);
    };
    led(this.ledPower, 'power', leds.power, wired.power_led);
    led(this.ledHdd, 'hdd', leds.hdd, wired.hdd_led);
    let text;
    if (!this.enabled) text = t('power.not_configured');
    else if (!s) text = t('power.reading');
    else if (s.busy) text = t('power.busy');
    else if (wired.power_led === false) text = t('power.unwired');
    else text = leds.power ? t('power.target_on') : t('power.target_off');
    setText(this.status, text);
    const usable = this.enabled && s && !s.busy && !this.sending && this.app.canAct();
    for (const b of this.actionButtons) b.disabled = !usable;
    this.button.classList.toggle('menu-button-on', Boolean(leds.power));
  }

  /** @param {PowerAction} action */
  async #run(action) {
    const label = t(action.labelKey);
    if (action.confirmKey) {
      const ok = await confirmAction({ title: label, text: t(action.confirmKey), confirmLabel: label });
      if (!ok) return;
    }
    if (this.state && this.state.busy) return;
    this.sending = true;
    this.render();
    try {
      const result = await apiPost(action.path, action.body);
      if (result && result.leds) this.update(result);
    } catch (err) {
      const conflict = err instanceof ApiError && err.code === 'conflict';
      toast(conflict ? t('power.conflict', { action: label }) : t('power.failed', { action: label, error: describeError(err) }),
        'error');
    } finally {
      this.sending = false;
      this.render();
    }
  }
}
