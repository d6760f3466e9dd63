/*
 * power.js — the Power menu: the target's power and disk lights and the ATX actions.
 *
 * State comes from GET /api/atx and the `atx` event ({driver, busy, leds, wired}). While an
 * action runs (busy) every action button is disabled, so the UI never asks for a second one
 * (the device would answer 409). Actions that can lose data ask for confirmation first.
 */

import { apiGet, apiPost } from './api.js';
import { $, setText, describeError, toast, confirmAction } from './ui.js';

const ACTIONS = {
  'atx-on': { path: '/api/atx/power', body: { action: 'on' }, label: 'Power on' },
  'atx-off': { path: '/api/atx/power', body: { action: 'off' }, label: 'Shut down' },
  'atx-off-hard': {
    path: '/api/atx/power', body: { action: 'off_hard' }, label: 'Power off (hard)',
    confirm: 'Cut the power of the target now? Unsaved work on it is lost.',
  },
  'atx-reset-hard': {
    path: '/api/atx/power', body: { action: 'reset_hard' }, label: 'Reset',
    confirm: 'Reset the target now? Unsaved work on it is lost.',
  },
  'atx-click-power': { path: '/api/atx/click', body: { button: 'power' }, label: 'Press power' },
  'atx-click-power-long': {
    path: '/api/atx/click', body: { button: 'power_long' }, label: 'Hold power',
    confirm: 'Hold the power button for 5 seconds? A running target is switched off hard.',
  },
  'atx-click-reset': {
    path: '/api/atx/click', body: { button: 'reset' }, label: 'Press reset',
    confirm: 'Press the reset button of the target? Unsaved work on it is lost.',
  },
};

export class PowerMenu {
  /* ctx: { canControl() } */
  constructor(ctx) {
    this.ctx = ctx;
    this.enabled = false;
    this.state = null;
    this.sending = false;
    for (const [id, action] of Object.entries(ACTIONS)) {
      $(id).addEventListener('click', () => this.#run(action));
    }
    this.render();
  }

  /* Whether the device has power control at all (GET /api/info backends.atx). */
  setEnabled(enabled) {
    this.enabled = enabled;
    if (!enabled) this.state = null;
    this.render();
  }

  async load() {
    if (!this.enabled) return;
    try {
      this.update(await apiGet('/api/atx'));
    } catch (err) {
      setText($('power-status'), `Power state unknown: ${describeError(err)}`);
    }
  }

  update(state) {
    this.state = state;
    this.render();
  }

  render() {
    const s = this.state;
    const leds = (s && s.leds) || {};
    const wired = (s && s.wired) || {};
    const led = (id, on, isWired) => {
      const node = $(id);
      node.dataset.on = on ? 'true' : 'false';
      node.classList.toggle('led-unwired', isWired === false);
    };
    led('atx-led-power', leds.power, wired.power_led);
    led('atx-led-hdd', leds.hdd, wired.hdd_led);
    let text;
    if (!this.enabled) text = 'Power control is not configured on this device.';
    else if (!s) text = 'Reading the power state…';
    else if (s.busy) text = 'A power action is running…';
    else if (wired.power_led === false) text = 'The power light is not wired: the state is unknown.';
    else text = leds.power ? 'The target is on.' : 'The target is off.';
    setText($('power-status'), text);
    const usable = this.enabled && s && !s.busy && !this.sending && this.ctx.canControl();
    for (const id of Object.keys(ACTIONS)) $(id).disabled = !usable;
    $('mb-power').classList.toggle('menu-button-on', Boolean(leds.power));
  }

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
      toast(`${action.label}: ${err.code === 'conflict' ? 'another power action is still running.' : describeError(err)}`, 'error');
    } finally {
      this.sending = false;
      this.render();
    }
  }
}
