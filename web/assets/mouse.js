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
import { formatDuration, t } from './i18n.js';

/** The jiggler nudges the mouse after this many seconds without input. */
const JIGGLER_INTERVAL_S = 60;

/**
 * The modes; label and note are catalog keys.
 * @type {readonly {value: 'absolute' | 'relative', id: string, label: string, note: string}[]}
 */
const MODES = [
  { value: 'absolute', id: 'mouse-abs', label: 'mouse.absolute', note: 'mouse.absolute_note' },
  { value: 'relative', id: 'mouse-rel', label: 'mouse.relative', note: 'mouse.relative_note' },
];

export class MouseMenu extends Menu {
  /**
   * @param {{app: import('./app.js').App,
   *   onHid: (state: import('./app.js').HidState) => void}} deps
   *   onHid: the device's answer, a new `hid` state, to show everywhere
   */
  constructor({ app, onHid }) {
    super({ id: 'mouse', label: t('mouse.menu') });
    this.app = app;
    this.onHid = onHid;
    /** @type {HTMLInputElement[]} */
    this.radios = [];
    this.panel.append(menuHeading(t('mouse.mode')));
    for (const mode of MODES) {
      const { row, input } = menuCheck({
        type: 'radio', name: 'mouse-mode', id: mode.id, value: mode.value, label: t(mode.label), note: t(mode.note),
      });
      input.checked = mode.value === 'absolute';
      input.addEventListener('change', () => {
        if (input.checked) this.#post('/api/hid/mouse/mode', { mode: input.value }, 'mouse.mode_failed');
      });
      this.radios.push(input);
      this.panel.append(row);
    }
    const jiggler = menuCheck({
      type: 'checkbox', id: 'jiggler', label: t('mouse.jiggler'),
      note: t('mouse.jiggler_note', { duration: formatDuration(JIGGLER_INTERVAL_S) }),
    });
    this.jiggler = jiggler.input;
    this.jiggler.addEventListener('change', () => {
      this.#post('/api/hid/jiggler', { interval: this.jiggler.checked ? JIGGLER_INTERVAL_S : 0 }, 'mouse.jiggler_failed');
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
   * @param {string} failed the catalog key of the message when the device refuses
   */
  async #post(path, body, failed) {
    try {
      this.onHid(await apiPost(path, body));
    } catch (err) {
      toast(t(failed, { error: describeError(err) }), 'error');
      this.render(); // back to the device's state
    }
  }
}
