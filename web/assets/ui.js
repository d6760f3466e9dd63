/*
 * ui.js — small DOM helpers shared by the console's modules: element building, messages,
 * toasts, dialogs and a one-line description of API errors for people.
 *
 * All text from the server goes into the page through textContent, never as markup.
 */

export const $ = (id) => document.getElementById(id);

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key in node && typeof value !== 'string') node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/* A sentence for the user from an ApiError (or anything thrown). */
export function describeError(err) {
  const code = err && err.code;
  switch (code) {
    case 'network':
      return 'The device could not be reached. Check the network connection.';
    case 'timeout':
      return 'The device did not answer in time. Try again.';
    case 'throttled':
      return `Too many failed attempts. Try again in ${err.retryAfter || 1}\u00a0s.`;
    case 'forbidden':
      return 'Your role does not allow this.';
    case 'bad_origin':
      return 'The device refused the request because of its origin.';
    case 'internal':
      return 'The device reported an internal error. Try again.';
    default:
      return (err && err.message) || 'Something went wrong.';
  }
}

export function showMessage(node, text) {
  node.textContent = text;
  node.hidden = false;
}

export function hideMessage(node) {
  node.hidden = true;
  node.textContent = '';
}

export function toast(text, kind = 'info', timeout = 6000) {
  const close = el('button', { type: 'button', class: 'btn-link', text: 'Dismiss' });
  const node = el('div', { class: `toast toast-${kind}` }, el('span', { class: 'toast-text', text }), close);
  if (kind === 'error') node.setAttribute('role', 'alert');
  const remove = () => node.remove();
  close.addEventListener('click', remove);
  $('toasts').append(node);
  if (timeout) window.setTimeout(remove, timeout);
}

export function wireCloseButtons(dialog) {
  for (const button of dialog.querySelectorAll('[data-close]')) {
    button.addEventListener('click', () => dialog.close('cancel'));
  }
}

export function setBusy(button, busy) {
  button.disabled = busy;
  button.setAttribute('aria-busy', busy ? 'true' : 'false');
}

/* Resolve true when the user confirms. */
export function confirmAction({ title, text, confirmLabel = 'Confirm' }) {
  const dialog = $('confirm-dialog');
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

