// @ts-check
/*
 * mouse.js — the Mouse menu: absolute or relative mode, and the jiggler.
 *
 * The mode and the jiggler are the device's (POST /api/hid/mouse/mode, /api/hid/jiggler), so
 * every console shows the same; the controls follow the `hid` state, and after a refused
 * change they go back to it.
 */

import { apiPost } from './api.js';
import { describeError, toast } from './ui.js';
import { Menu, menuCheck, menuHeading, menuSep } from './menus.js';

/** The jiggler nudges the mouse after this many seconds without input. */
const JIGGLER_INTERVAL_S = 60;

/** @type {readonly {value: 'absolute' | 'relative', id: string, label: string, note: string}[]} */
const MODES = [
  { value: 'absolute', id: 'mouse-abs', label: 'Absolute', note: 'pointer follows yours exactly' },
  { value: 'relative', id: 'mouse-rel', label: 'Relative', note: 'for BIOS and games; locks your pointer' },
];

export class MouseMenu extends Menu {
  /**
   * @param {{app: import('./app.js').App,
   *   onHid: (state: import('./app.js').HidState) => void}} deps
   *   onHid: the device's answer, a new `hid` state, to show everywhere
   */
  constructor({ app, onHid }) {
    super({ id: 'mouse', label: 'Mouse' });
    this.app = app;
    this.onHid = onHid;
    /** @type {HTMLInputElement[]} */
    this.radios = [];
    this.panel.append(menuHeading('Mode'));
    for (const mode of MODES) {
      const { row, input } = menuCheck({ type: 'radio', name: 'mouse-mode', ...mode });
      input.checked = mode.value === 'absolute';
      input.addEventListener('change', () => {
        if (input.checked) this.#post('/api/hid/mouse/mode', { mode: input.value }, 'the mouse mode');
      });
      this.radios.push(input);
      this.panel.append(row);
    }
    const jiggler = menuCheck({
      type: 'checkbox', id: 'jiggler', label: 'Jiggler',
      note: `nudge the mouse after ${JIGGLER_INTERVAL_S} s idle`,
    });
    this.jiggler = jiggler.input;
    this.jiggler.addEventListener('change', () => {
      this.#post('/api/hid/jiggler', { interval: this.jiggler.checked ? JIGGLER_INTERVAL_S : 0 }, 'the jiggler');
    });
    this.panel.append(menuSep(), jiggler.row);
  }

  /** @override */
  render() {
    const usable = this.app.isOperator() && this.app.has('hid');
    for (const input of [...this.radios, this.jiggler]) input.disabled = !usable;
    const state = this.app.hid;
    if (!state) return;
    for (const input of this.radios) input.checked = input.value === (state.mouse_mode === 'relative' ? 'relative' : 'absolute');
    this.jiggler.checked = Boolean(state.jiggler && state.jiggler.interval > 0);
  }

  /**
   * @param {string} path
   * @param {object} body
   * @param {string} what
   */
  async #post(path, body, what) {
    try {
      this.onHid(await apiPost(path, body));
    } catch (err) {
      toast(`Could not change ${what}: ${describeError(err)}`, 'error');
      this.render(); // back to the device's state
    }
  }
}
