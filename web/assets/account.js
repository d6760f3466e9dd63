// @ts-check
/*
 * account.js — the account dialogs: "Change my password" for every role and "Users" for
 * admins (list, add, change role, reset password, delete).
 */

import { ApiError, apiGet, apiPost, apiDelete, redirectToLogin } from './api.js';
import {
  $, el, setText, describeError, showMessage, hideMessage, toast, wireCloseButtons, setBusy,
  confirmAction,
} from './ui.js';

/** @typedef {{name: string, role: string, totp?: boolean}} UserEntry one user of GET /api/users */

const ROLES = ['viewer', 'operator', 'admin'];
/** @type {{me: import('./app.js').User | null}} who is signed in (the console's App) */
let app = { me: null };

/**
 * Fails the form's native validation when two new-password fields differ.
 * @param {HTMLInputElement} first
 * @param {HTMLInputElement} second
 */
function checkRepeat(first, second) {
  second.setCustomValidity(first.value === second.value ? '' : 'The passwords do not match.');
  return second.reportValidity();
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
    if (app.me) $('pw-username', HTMLInputElement).value = app.me.name;
    hideMessage(error);
  });
  repeat.addEventListener('input', () => repeat.setCustomValidity(''));
  newInput.addEventListener('input', () => repeat.setCustomValidity(''));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    hideMessage(error);
    if (!checkRepeat(newInput, repeat)) return;
    const submit = $('pw-submit', HTMLButtonElement);
    setBusy(submit, true);
    try {
      await apiPost('/api/auth/password', {
        old_password: oldInput.value,
        new_password: newInput.value,
      });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'bad_credentials') {
        showMessage(error, 'The current password is wrong.');
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
    toast('Password changed. Your other sessions were signed out.', 'ok');
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
      el('tr', {}, el('td', { colspan: '4', class: 'empty', text: 'The user list could not be loaded.' })),
    );
    usersMessage('error', describeError(err));
  }
}

/** @param {UserEntry[]} users */
function renderUsers(users) {
  const rows = [...users]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((user) => userRow(user));
  if (rows.length === 0) {
    rows.push(el('tr', {}, el('td', { colspan: '4', class: 'empty', text: 'No users.' })));
  }
  $('users-body', HTMLTableSectionElement).replaceChildren(...rows);
}

/** @param {UserEntry} user */
function userRow(user) {
  const isMe = Boolean(app.me && user.name === app.me.name);

  const nameCell = el('td', { class: 'cell-name' }, user.name);
  if (isMe) nameCell.append(el('span', { class: 'you', text: '(you)' }));

  const select = el('select', { 'aria-label': `Role of ${user.name}` });
  const roles = ROLES.includes(user.role) ? ROLES : [...ROLES, user.role];
  for (const role of roles) {
    select.append(el('option', { value: role, text: role === 'viewer' ? 'viewer (view only)' : role }));
  }
  select.value = user.role;
  select.dataset.current = user.role;
  select.addEventListener('change', () => changeRole(user.name, select, isMe));

  const totp = user.totp
    ? el('span', { class: 'totp-on', text: 'on' })
    : el('span', { class: 'totp-off', text: 'off' });

  const reset = el('button', {
    type: 'button',
    class: 'btn btn-small',
    text: 'Reset password',
    'aria-label': `Reset password of ${user.name}`,
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
    text: 'Delete',
    'aria-label': `Delete user ${user.name}`,
  });
  if (isMe) {
    del.disabled = true;
    del.title = 'You cannot delete your own account.';
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
      title: 'Change your own role',
      text: `Change your role to “${role}”? You will be signed out and may lose access to user management.`,
      confirmLabel: 'Change role',
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
  usersMessage('ok', `${name} is now ${select.dataset.current}. Their sessions were signed out.`);
}

/**
 * @param {string} name
 * @param {HTMLButtonElement} button
 */
async function deleteUser(name, button) {
  usersMessage();
  const ok = await confirmAction({
    title: 'Delete user',
    text: `Delete the user “${name}”? Their sessions and API tokens stop working at once. This cannot be undone.`,
    confirmLabel: 'Delete',
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
  usersMessage('ok', `The user ${name} was deleted.`);
  await loadUsers();
}

let resetName = '';

/** @param {string} name */
function openReset(name) {
  resetName = name;
  setText($('reset-title'), `Reset password of ${name}`);
  setText($('reset-text'), `Set a new password for ${name}. Their sessions will be signed out.`);
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
    usersMessage();
    hideMessage($('user-add-error'));
  });

  // Add a user.
  const addForm = $('user-add-form', HTMLFormElement);
  addForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const error = $('user-add-error');
    hideMessage(error);
    usersMessage();
    const name = $('add-name', HTMLInputElement).value.trim();
    const body = { name, password: $('add-password', HTMLInputElement).value, role: $('add-role', HTMLSelectElement).value };
    const submit = $('add-submit', HTMLButtonElement);
    setBusy(submit, true);
    try {
      await apiPost('/api/users', body);
    } catch (err) {
      showMessage(error, err instanceof ApiError && err.code === 'conflict' ? `A user named “${name}” already exists.` : describeError(err));
      return;
    } finally {
      setBusy(submit, false);
    }
    addForm.reset();
    usersMessage('ok', `The user ${name} was added.`);
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
    hideMessage($('reset-error'));
  });
  repeat.addEventListener('input', () => repeat.setCustomValidity(''));
  newInput.addEventListener('input', () => repeat.setCustomValidity(''));
  resetForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    hideMessage($('reset-error'));
    if (!checkRepeat(newInput, repeat)) return;
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
    usersMessage('ok', `The password of ${name} was changed. Their sessions were signed out.`);
  });
}

/* ---- start ------------------------------------------------------------------------------ */

/** @param {{me: import('./app.js').User | null}} appState the console's App */
export function initAccount(appState) {
  app = appState;
  initPasswordDialog();
  initUsersDialog();
}
