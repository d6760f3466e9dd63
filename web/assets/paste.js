// @ts-check
/*
 * paste.js — the Paste text dialog: a text typed on the target by the device.
 *
 * The text goes to POST /api/hid/type with the target's layout and a delay between keys; the
 * device types it (Shift, AltGr, dead keys as the layout needs) and reports progress as
 * `hid_type` events, which console.js hands to onTypeEvent(). Characters the layout cannot
 * type are listed for the operator instead of being dropped silently. Ctrl+Enter types,
 * Stop typing cancels.
 *
 * The dialog's markup is the page's (index.html #paste-dialog); this class is given that
 * element and drives what is inside it. The Keyboard menu opens it.
 */

import { ApiError, apiPost } from './api.js';
import { el, part, setText, describeError, showMessage, hideMessage, wireCloseButtons, setBusy } from './ui.js';
import { formatNumber, t, tn } from './i18n.js';
import { layoutName } from './keyboard.js';

/**
 * A `hid_type` event: the progress of a text being typed.
 * @typedef {{id: number, state: string, typed: number, total: number}} TypeEvent
 */

/**
 * The dialog's parts.
 * @param {HTMLDialogElement} dialog
 */
function partsOf(dialog) {
  return {
    dialog,
    form: part(dialog, 'paste-form', HTMLFormElement),
    text: part(dialog, 'paste-text', HTMLTextAreaElement),
    layout: part(dialog, 'paste-layout', HTMLSelectElement),
    delay: part(dialog, 'paste-delay', HTMLSelectElement),
    bar: part(dialog, 'paste-bar', HTMLProgressElement),
    count: part(dialog, 'paste-count', HTMLElement),
    done: part(dialog, 'paste-done', HTMLElement),
    error: part(dialog, 'paste-error', HTMLElement),
    untyped: part(dialog, 'paste-untyped', HTMLElement),
    progress: part(dialog, 'paste-progress', HTMLElement),
    submit: part(dialog, 'paste-submit', HTMLButtonElement),
    cancel: part(dialog, 'paste-cancel', HTMLButtonElement),
  };
}

export class PasteDialog {
  /** @param {{dialog: HTMLDialogElement}} deps the page's paste dialog */
  constructor({ dialog }) {
    this.parts = partsOf(dialog);
    this.typingId = 0;
    this.typing = false;
    /** @type {Map<number, TypeEvent>} id -> newest hid_type event */
    this.seen = new Map();
    wireCloseButtons(dialog);
    this.parts.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.#type();
    });
    // Ctrl+Enter types, Enter alone makes a new line.
    this.parts.text.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        this.#type();
      }
    });
    this.parts.cancel.addEventListener('click', async () => {
      try {
        await apiPost('/api/hid/type/cancel');
      } catch (err) {
        showMessage(this.parts.error, describeError(err));
      }
    });
  }

  /**
   * Opens the dialog for the target's layout.
   * @param {string} layout
   */
  open(layout) {
    this.setLayout(layout);
    if (!this.typing) this.#resetPasteStatus();
    this.parts.dialog.showModal();
    this.parts.text.focus();
  }

  /**
   * The target's layout changed (the Keyboard menu's choice).
   * @param {string} layout
   */
  setLayout(layout) {
    this.parts.layout.value = layout;
  }

  #resetPasteStatus() {
    hideMessage(this.parts.error);
    hideMessage(this.parts.done);
    this.parts.untyped.hidden = true;
    this.parts.untyped.replaceChildren();
    this.parts.progress.hidden = true;
  }

  async #type() {
    if (this.typing) return;
    const text = this.parts.text.value;
    if (!text) return;
    this.#resetPasteStatus();
    const submit = this.parts.submit;
    setBusy(submit, true);
    let result;
    try {
      result = await apiPost('/api/hid/type', {
        text,
        layout: this.parts.layout.value,
        delay_ms: Number(this.parts.delay.value),
      });
    } catch (err) {
      setBusy(submit, false);
      showMessage(this.parts.error, err instanceof ApiError && err.code === 'conflict'
        ? t('paste.busy')
        : describeError(err));
      return;
    }
    this.typingId = result.id;
    this.#showUntyped(text, result.untyped || []);
    if (!result.strokes) {
      setBusy(submit, false);
      showMessage(this.parts.done, t('paste.nothing'));
      return;
    }
    this.typing = true;
    this.parts.progress.hidden = false;
    this.parts.bar.max = result.strokes;
    this.parts.bar.value = 0;
    setText(this.parts.count, t('paste.progress', { typed: formatNumber(0), total: formatNumber(result.strokes) }));
    this.parts.cancel.hidden = false;
    // A short text may be typed before this answer arrived: its events came first.
    const early = this.seen.get(result.id);
    if (early) this.onTypeEvent(early);
  }

  /**
   * @param {string} text
   * @param {{index: number, char?: string}[]} untyped
   */
  #showUntyped(text, untyped) {
    const box = this.parts.untyped;
    if (!untyped.length) {
      box.hidden = true;
      return;
    }
    const chars = [...text];
    const items = untyped.slice(0, 20).map((u) => {
      const ch = u.char !== undefined ? u.char : chars[u.index];
      const code = ch ? `U+${(ch.codePointAt(0) || 0).toString(16).toUpperCase().padStart(4, '0')}` : '';
      return el('li', {}, el('code', { text: JSON.stringify(ch) }), ' ',
        t('paste.untyped_at', { code, position: formatNumber(u.index + 1) }));
    });
    const more = untyped.length > 20 ? el('p', { text: tn('paste.untyped_more', untyped.length - 20) }) : null;
    const parts = [
      el('p', { text: tn('paste.untyped', untyped.length, { layout: layoutName(this.parts.layout.value) }) }),
      el('ul', { class: 'untyped-list' }, ...items),
    ];
    if (more) parts.push(more);
    box.replaceChildren(...parts);
    box.hidden = false;
  }

  /**
   * Progress of the text being typed (the `hid_type` event).
   * @param {TypeEvent} data
   */
  onTypeEvent(data) {
    // Kept per id (the last few), for an answer that arrives after its own events.
    this.seen.set(data.id, data);
    const oldest = this.seen.keys().next();
    if (this.seen.size > 8 && !oldest.done) this.seen.delete(oldest.value);
    if (!this.typing || data.id !== this.typingId) return;
    const total = Number(data.total) || 0;
    const typed = Number(data.typed) || 0;
    this.parts.bar.max = Math.max(1, total);
    this.parts.bar.value = typed;
    setText(this.parts.count, t('paste.progress', { typed: formatNumber(typed), total: formatNumber(total) }));
    if (data.state === 'typing') return;
    this.typing = false;
    setBusy(this.parts.submit, false);
    this.parts.cancel.hidden = true;
    const counts = { typed: formatNumber(typed), total: formatNumber(total) };
    if (data.state === 'done') showMessage(this.parts.done, tn('paste.done', total));
    else if (data.state === 'cancelled') showMessage(this.parts.error, t('paste.cancelled', counts));
    else showMessage(this.parts.error, t('paste.failed', counts));
  }
}
