// @ts-check
/*
 * account.js — the account dialogs: "Change my password" for every role and "Users" for
 * admins (list, add, change role, reset password, delete).
 *
 * The forms check their fields here rather than by the browser's own bubbles (novalidate),
 * so the messages are in the console's language whatever the browser's is.
 */

import { ApiError, apiGet, apiPost, apiDelete, redirectToLogin } from './api.js';
import {
  $, el, setText, describeError, showMessage, hideMessage, toast, wireCloseButtons, setBusy,
  confirmAction,
} from './ui.js';
import { t, tn } from './i18n.js';

/** @typedef {{name: string, role: string, totp?: boolean}} UserEntry one user of GET /api/users */

const ROLES = ['viewer', 'operator', 'admin'];
/** @type {Record<string, string>} the name of each role, as the users dialog says it */
const ROLE_KEYS = { viewer: 'users.role.viewer', operator: 'users.role.operator', admin: 'users.role.admin' };
/** The shortest password the device accepts (IPKVM_PASSWORD_MIN). */
const MIN_PASSWORD = 8;
/** @type {{me: import('./app.js').User | null}} who is signed in (the console's App) */
let app = { me: null };

/** @param {string} role */
function roleName(role) {
  return ROLE_KEYS[role] ? t(ROLE_KEYS[role]) : role;
}

/**
 * What is wrong with a new password, or ''.
 * @param {HTMLInputElement} input
 */
function newPasswordProblem(input) {
  if (!input.value) return t('account.need_new_password');
  if (input.value.length < MIN_PASSWORD) return tn('account.too_short', MIN_PASSWORD);
  return '';
}

/**
 * What is wrong with the repetition of a new password, or ''.
 * @param {HTMLInputElement} first
 * @param {HTMLInputElement} repeat
 */
function repeatProblem(first, repeat) {
  return first.value === repeat.value ? '' : t('account.mismatch');
}

/**
 * Checks a form's fields in order: the first problem is shown in `error` and its field is
 * marked invalid and focused.
 * @param {HTMLElement} error
 * @param {Array<[HTMLInputElement, string]>} checks each field with its problem ('' when none)
 * @returns {boolean} whether every field is fine
 */
function validate(error, checks) {
  for (const [input] of checks) input.removeAttribute('aria-invalid');
  const bad = checks.find(([, problem]) => problem);
  if (!bad) return true;
  bad[0].setAttribute('aria-invalid', 'true');
  showMessage(error, bad[1]);
  bad[0].focus();
  return false;
}

/** @param {HTMLFormElement} form */
function clearInvalid(form) {
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
}

/* ---- change my password ----------------------------------------------------------------- */

function initPasswordDialog() {
  const dialog = $('password-dialog', HTMLDialogElement);
  const form = $('password-form', HTMLFormElement);
  const error = $('pw-error');
  const oldInput = $('pw-old', HTMLInputElement);
  const newInput = $('pw-new', HTMLInputElement);
  const repeat = $('pw-confirm', HTMLInputElement);
  wireCloseButtons(dialog);

  $('btn-password', HTMLButtonElement).addEventListener('click', () => {
    hideMessage(error);
    dialog.showModal();
  });
  dialog.addEventListener('close', () => {
    form.reset();
    clearInvalid(form);
    if (app.me) $('pw-username', HTMLInputElement).value = app.me.name;
    hideMessage(error);
  });
  for (const input of [oldInput, newInput, repeat]) {
    input.addEventListener('input', () => input.removeAttribute('aria-invalid'));
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    hideMessage(error);
    const ok = validate(error, [
      [oldInput, oldInput.value ? '' : t('account.need_current_password')],
      [newInput, newPasswordProblem(newInput)],
      [repeat, repeatProblem(newInput, repeat)],
    ]);
    if (!ok) return;
    const submit = $('pw-submit', HTMLButtonElement);
    setBusy(submit, true);
    try {
      await apiPost('/api/auth/password', {
        old_password: oldInput.value,
        new_password: newInput.value,
      });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'bad_credentials') {
        showMessage(error, t('account.wrong_current'));
        oldInput.setAttribute('aria-invalid', 'true');
        oldInput.select();
        oldInput.focus();
      } else {
        showMessage(error, describeError(err));
      }
      return;
    } finally {
      setBusy(submit, false);
    }
    dialog.close('done');
    toast(t('account.changed'), 'ok');
  });
}

/* ---- users (admin) ---------------------------------------------------------------------- */

/** @param {string} name */
function userPath(name) {
  return `/api/users/${encodeURIComponent(name)}`;
}

/**
 * Shows one message above the list, or none.
 * @param {'ok' | 'error'} [kind]
 * @param {string} [text]
 */
function usersMessage(kind, text) {
  hideMessage($('users-error'));
  hideMessage($('users-ok'));
  if (text) showMessage($(kind === 'ok' ? 'users-ok' : 'users-error'), text);
}

async function loadUsers() {
  const body = $('users-body', HTMLTableSectionElement);
  try {
    const result = await apiGet('/api/users');
    renderUsers(Array.isArray(result.users) ? result.users : []);
  } catch (err) {
    body.replaceChildren(
      el('tr', {}, el('td', { colspan: '4', class: 'empty', text: t('users.load_failed') })),
    );
    setText($('users-count'), '');
    usersMessage('error', describeError(err));
  }
}

/** @param {UserEntry[]} users */
function renderUsers(users) {
  const rows = [...users]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((user) => userRow(user));
  if (rows.length === 0) {
    rows.push(el('tr', {}, el('td', { colspan: '4', class: 'empty', text: t('users.none') })));
  }
  $('users-body', HTMLTableSectionElement).replaceChildren(...rows);
  setText($('users-count'), users.length ? tn('users.count', users.length) : '');
}

/** @param {UserEntry} user */
function userRow(user) {
  const isMe = Boolean(app.me && user.name === app.me.name);

  const nameCell = el('td', { class: 'cell-name' }, user.name);
  if (isMe) nameCell.append(el('span', { class: 'you', text: t('users.you') }));

  const select = el('select', { 'aria-label': t('users.role_of', { name: user.name }) });
  const roles = ROLES.includes(user.role) ? ROLES : [...ROLES, user.role];
  for (const role of roles) {
    select.append(el('option', { value: role, text: roleName(role) }));
  }
  select.value = user.role;
  select.dataset.current = user.role;
  select.addEventListener('change', () => changeRole(user.name, select, isMe));

  const totp = user.totp
    ? el('span', { class: 'totp-on', text: t('users.totp_on') })
    : el('span', { class: 'totp-off', text: t('users.totp_off') });

  const reset = el('button', {
    type: 'button',
    class: 'btn btn-small',
    text: t('users.reset'),
    'aria-label': t('users.reset_of', { name: user.name }),
  });
  reset.addEventListener('click', () => {
    // Resetting your own password here would end your session; the own-password dialog
    // asks for the old one and keeps you signed in.
    if (isMe) $('btn-password', HTMLButtonElement).click();
    else openReset(user.name);
  });

  const del = el('button', {
    type: 'button',
    class: 'btn btn-small btn-danger',
    text: t('users.delete'),
    'aria-label': t('users.delete_of', { name: user.name }),
  });
  if (isMe) {
    del.disabled = true;
    del.title = t('users.delete_self');
  }
  del.addEventListener('click', () => deleteUser(user.name, del));

  return el(
    'tr',
    {},
    nameCell,
    el('td', {}, select),
    el('td', {}, totp),
    el('td', { class: 'col-actions' }, el('div', { class: 'row-actions' }, reset, del)),
  );
}

/**
 * @param {string} name
 * @param {HTMLSelectElement} select
 * @param {boolean} isMe
 */
async function changeRole(name, select, isMe) {
  const role = select.value;
  const previous = select.dataset.current || '';
  usersMessage();
  if (isMe) {
    const ok = await confirmAction({
      title: t('users.own_role_title'),
      text: t('users.own_role_text', { role: roleName(role) }),
      confirmLabel: t('users.own_role_confirm'),
    });
    if (!ok) {
      select.value = previous;
      return;
    }
  }
  select.disabled = true;
  try {
    const result = await apiPost(userPath(name), { role });
    const now = result.role || role;
    select.dataset.current = now;
    select.value = now;
  } catch (err) {
    select.value = previous;
    usersMessage('error', describeError(err));
    return;
  } finally {
    select.disabled = false;
  }
  if (isMe) {
    // The change ended this session.
    redirectToLogin();
    return;
  }
  usersMessage('ok', t('users.role_changed', { name, role: roleName(select.dataset.current || role) }));
}

/**
 * @param {string} name
 * @param {HTMLButtonElement} button
 */
async function deleteUser(name, button) {
  usersMessage();
  const ok = await confirmAction({
    title: t('users.delete_title'),
    text: t('users.delete_text', { name }),
    confirmLabel: t('users.delete'),
  });
  if (!ok) return;
  setBusy(button, true);
  try {
    await apiDelete(userPath(name));
  } catch (err) {
    setBusy(button, false);
    usersMessage('error', describeError(err));
    return;
  }
  usersMessage('ok', t('users.deleted', { name }));
  await loadUsers();
}

let resetName = '';

/** @param {string} name */
function openReset(name) {
  resetName = name;
  setText($('reset-title'), t('users.reset_of', { name }));
  setText($('reset-text'), t('users.reset_text', { name }));
  hideMessage($('reset-error'));
  $('reset-dialog', HTMLDialogElement).showModal();
}

function initUsersDialog() {
  const dialog = $('users-dialog', HTMLDialogElement);
  wireCloseButtons(dialog);
  $('btn-users', HTMLButtonElement).addEventListener('click', () => {
    usersMessage();
    hideMessage($('user-add-error'));
    dialog.showModal();
    loadUsers();
  });
  dialog.addEventListener('close', () => {
    $('user-add-form', HTMLFormElement).reset();
    clearInvalid($('user-add-form', HTMLFormElement));
    usersMessage();
    hideMessage($('user-add-error'));
  });

  // Add a user.
  const addForm = $('user-add-form', HTMLFormElement);
  for (const input of [$('add-name', HTMLInputElement), $('add-password', HTMLInputElement)]) {
    input.addEventListener('input', () => input.removeAttribute('aria-invalid'));
  }
  addForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const error = $('user-add-error');
    hideMessage(error);
    usersMessage();
    const nameInput = $('add-name', HTMLInputElement);
    const passwordInput = $('add-password', HTMLInputElement);
    const name = nameInput.value.trim();
    const ok = validate(error, [
      [nameInput, name ? '' : t('users.need_name')],
      [passwordInput, passwordInput.value ? newPasswordProblem(passwordInput) : t('account.need_password')],
    ]);
    if (!ok) return;
    const body = { name, password: passwordInput.value, role: $('add-role', HTMLSelectElement).value };
    const submit = $('add-submit', HTMLButtonElement);
    setBusy(submit, true);
    try {
      await apiPost('/api/users', body);
    } catch (err) {
      showMessage(error, err instanceof ApiError && err.code === 'conflict' ? t('users.exists', { name }) : describeError(err));
      return;
    } finally {
      setBusy(submit, false);
    }
    addForm.reset();
    usersMessage('ok', t('users.added', { name }));
    $('add-name', HTMLInputElement).focus();
    await loadUsers();
  });

  // Reset someone's password.
  const resetDialog = $('reset-dialog', HTMLDialogElement);
  const resetForm = $('reset-form', HTMLFormElement);
  const newInput = $('reset-new', HTMLInputElement);
  const repeat = $('reset-confirm', HTMLInputElement);
  wireCloseButtons(resetDialog);
  resetDialog.addEventListener('close', () => {
    resetForm.reset();
    clearInvalid(resetForm);
    hideMessage($('reset-error'));
  });
  for (const input of [newInput, repeat]) {
    input.addEventListener('input', () => input.removeAttribute('aria-invalid'));
  }
  resetForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    hideMessage($('reset-error'));
    const ok = validate($('reset-error'), [
      [newInput, newPasswordProblem(newInput)],
      [repeat, repeatProblem(newInput, repeat)],
    ]);
    if (!ok) return;
    const submit = $('reset-submit', HTMLButtonElement);
    const name = resetName;
    setBusy(submit, true);
    try {
      await apiPost(userPath(name), { password: newInput.value });
    } catch (err) {
      showMessage($('reset-error'), describeError(err));
      return;
    } finally {
      setBusy(submit, false);
    }
    resetDialog.close('done');
    usersMessage('ok', t('users.reset_done', { name }));
  });
}

/* ---- start ------------------------------------------------------------------------------ */

/** @param {{me: import('./app.js').User | null}} appState the console's App */
export function initAccount(appState) {
  app = appState;
  initPasswordDialog();
  initUsersDialog();
}
