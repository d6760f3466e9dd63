// @ts-check
/*
 * ui.js — small DOM helpers shared by the console's modules: element building, messages,
 * toasts, dialogs and a one-line description of API errors for people.
 *
 * All text from the server goes into the page through textContent, never as markup. Every
 * text for people comes from the catalogs (i18n.js).
 */

import { t, formatNumber } from './i18n.js';

/**
 * The element with this id, checked to be of `type` (HTMLElement unless given), so a typo or
 * a changed page fails at once and loudly instead of as a null later.
 * @template {HTMLElement} [T=HTMLElement]
 * @param {string} id
 * @param {{new (): T, prototype: T}} [type]
 * @returns {T}
 */
export function $(id, type) {
  const node = document.getElementById(id);
  const want = type || HTMLElement;
  if (!(node instanceof want)) throw new Error(`the page has no ${want.name} #${id}`);
  return /** @type {T} */ (node);
}

/**
 * The element with this id inside `root` (a part of a dialog or section that a class was
 * given), checked to be a `type`.
 * @template {Element} T
 * @param {ParentNode} root
 * @param {string} id
 * @param {{new (): T, prototype: T}} type
 * @returns {T}
 */
export function part(root, id, type) {
  const node = root.querySelector(`#${id}`);
  if (!(node instanceof type)) throw new Error(`no ${type.name} #${id} in its part of the page`);
  return node;
}

/**
 * @typedef {Record<string, string | number | boolean | null | undefined>} ElProps
 * `class` sets className, `text` textContent; other string values become attributes and
 * other values (booleans, numbers) the element's property of that name (hidden, max, value).
 */

/**
 * A new element with its properties and children.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {ElProps} [props]
 * @param {...(Node | string | null | undefined)} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === 'class') node.className = String(value);
    else if (key === 'text') node.textContent = String(value);
    else if (key in node && typeof value !== 'string') /** @type {any} */ (node)[key] = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

/**
 * @param {Node} node
 * @param {string} text
 */
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/**
 * Every error code the console has a sentence for (`error.<code>` in the catalogs): the codes
 * of docs/api.md's "Status and error codes" table, then the client's own (api.js: no answer,
 * no answer in time, an answer that is not the API's envelope). make check compares this
 * list with the table.
 */
export const ERROR_CODES = Object.freeze([
  // docs/api.md
  'bad_json', 'bad_request', 'unauthorized', 'bad_credentials', 'totp_required', 'forbidden',
  'bad_origin', 'not_found', 'method_not_allowed', 'conflict', 'length_required', 'too_large',
  'unsupported_media_type', 'upgrade_required', 'throttled', 'internal',
  'hid_offline', 'no_atx', 'no_drives', 'no_hid', 'no_image', 'no_msd', 'no_power_led',
  'no_raw_frame', 'no_video', 'no_wol', 'bad_name', 'insufficient_storage', 'too_many',
  'not_offered', 'hid_error', 'no_h264',
  // api.js
  'network', 'timeout', 'bad_response', 'http_error',
]);

/* The codes whose server message names the field, the thing or the reason: the message
 * follows the sentence as its detail. */
const DETAIL_CODES = new Set([
  'bad_json', 'bad_request', 'not_found', 'conflict', 'internal', 'hid_offline', 'bad_name',
  'insufficient_storage', 'too_many', 'not_offered', 'hid_error',
]);

/**
 * A sentence for the user, in the user's language, from an ApiError (or anything thrown),
 * with the server's own (English) message as its detail where that message says more (which
 * field, which image). A code the console does not know gets a general sentence and the
 * message.
 * @param {unknown} err
 * @returns {string}
 */
export function describeError(err) {
  const e = /** @type {{code?: string, message?: string, status?: number, retryAfter?: number} | null} */ (
    err && typeof err === 'object' ? err : null);
  const code = (e && typeof e.code === 'string' && e.code) || '';
  const message = (e && typeof e.message === 'string' && e.message) || '';
  /** @param {string} text @param {string} detail */
  const withDetail = (text, detail) => (detail ? t('error.with_detail', { text, detail }) : text);
  if (!ERROR_CODES.includes(code)) return withDetail(t('error.unknown'), message && message !== code ? message : code);
  if (code === 'throttled') return t('error.throttled', { seconds: formatNumber((e && e.retryAfter) || 1) });
  const text = t(`error.${code}`);
  if (code === 'http_error') return withDetail(text, e && e.status ? `HTTP ${e.status}` : ''); // i18n-ok: a protocol name and number
  if (DETAIL_CODES.has(code) && message && message !== code) return withDetail(text, message);
  return text;
}

/**
 * @param {HTMLElement} node
 * @param {string} text
 */
export function showMessage(node, text) {
  node.textContent = text;
  node.hidden = false;
}

/** @param {HTMLElement} node */
export function hideMessage(node) {
  node.hidden = true;
  node.textContent = '';
}

/**
 * A message in the corner of the page; `timeout` 0 keeps it until dismissed.
 * @param {string} text
 * @param {'info' | 'ok' | 'error'} [kind]
 * @param {number} [timeout] ms
 */
export function toast(text, kind = 'info', timeout = 6000) {
  const close = el('button', { type: 'button', class: 'btn-link', text: t('common.dismiss') });
  const node = el('div', { class: `toast toast-${kind}` }, el('span', { class: 'toast-text', text }), close);
  if (kind === 'error') node.setAttribute('role', 'alert');
  const remove = () => node.remove();
  close.addEventListener('click', remove);
  $('toasts').append(node);
  if (timeout) window.setTimeout(remove, timeout);
}

/** @param {HTMLDialogElement} dialog */
export function wireCloseButtons(dialog) {
  for (const button of dialog.querySelectorAll('button[data-close]')) {
    button.addEventListener('click', () => dialog.close('cancel'));
  }
}

/**
 * @param {HTMLButtonElement} button
 * @param {boolean} busy
 */
export function setBusy(button, busy) {
  button.disabled = busy;
  button.setAttribute('aria-busy', busy ? 'true' : 'false');
}

/**
 * Resolves true when the user confirms.
 * @param {{title: string, text: string, confirmLabel?: string}} what confirmLabel: the
 *   confirm button's words (default: Confirm, in the user's language)
 * @returns {Promise<boolean>}
 */
export function confirmAction({ title, text, confirmLabel }) {
  const dialog = $('confirm-dialog', HTMLDialogElement);
  setText($('confirm-title'), title);
  setText($('confirm-text'), text);
  setText($('confirm-ok'), confirmLabel || t('common.confirm'));
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), {
      once: true,
    });
    dialog.showModal();
  });
}

