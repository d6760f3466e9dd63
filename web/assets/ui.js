// @ts-check
/*
 * ui.js — small DOM helpers shared by the console's modules: element building, messages,
 * toasts, dialogs and a one-line description of API errors for people.
 *
 * All text from the server goes into the page through textContent, never as markup.
 */

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
 * A sentence for the user from an ApiError (or anything thrown).
 * @param {unknown} err
 * @returns {string}
 */
export function describeError(err) {
  const e = /** @type {{code?: string, message?: string, retryAfter?: number} | null} */ (
    err && typeof err === 'object' ? err : null);
  const code = e && e.code;
  switch (code) {
    case 'network':
      return 'The device could not be reached. Check the network connection.';
    case 'timeout':
      return 'The device did not answer in time. Try again.';
    case 'throttled':
      return `Too many failed attempts. Try again in ${(e && e.retryAfter) || 1}\u00a0s.`;
    case 'forbidden':
      return 'Your role does not allow this.';
    case 'bad_origin':
      return 'The device refused the request because of its origin.';
    case 'internal':
      return 'The device reported an internal error. Try again.';
    default:
      return (e && e.message) || 'Something went wrong.';
  }
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
  const close = el('button', { type: 'button', class: 'btn-link', text: 'Dismiss' });
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
 * @param {{title: string, text: string, confirmLabel?: string}} what
 * @returns {Promise<boolean>}
 */
export function confirmAction({ title, text, confirmLabel = 'Confirm' }) {
  const dialog = $('confirm-dialog', HTMLDialogElement);
  setText($('confirm-title'), title);
  setText($('confirm-text'), text);
  setText($('confirm-ok'), confirmLabel);
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), {
      once: true,
    });
    dialog.showModal();
  });
}

