/*
 * console.js — the console shell.
 *
 * Fills the frame that later features plug into: the top bar (device, version, user, role,
 * session actions), the stage where the remote screen will be mounted (#screen), and the
 * status bar fed by the event socket (connection state, uptime, clock offset). It also owns
 * the account dialogs: "Change my password" for everyone and "Users" for admins.
 *
 * All text from the server goes into the page through textContent, never as markup.
 */

import { apiGet, apiPost, apiDelete, EventSocket, redirectToLogin } from './api.js';

const $ = (id) => document.getElementById(id);

const ROLES = ['viewer', 'operator', 'admin'];
const ROLE_BADGES = { admin: 'admin', operator: 'operator', viewer: 'view only' };
const ROLE_TITLES = {
  admin: 'Full control, including user management',
  operator: 'Can control the target computer',
  viewer: 'Can watch the target computer but not control it',
};
const BACKEND_LABELS = { video: 'video', hid: 'keyboard/mouse', atx: 'power', msd: 'media' };
// Above this, the device clock is worth a warning (TOTP codes and logs depend on it).
const CLOCK_WARN_MS = 30000;

const app = {
  info: null,
  infoAt: 0, // performance.now() when info.uptime was read
  me: null, // { name, role }
  socket: null,
  sawHello: false,
};

/* ---- small helpers ---------------------------------------------------------------------- */

function el(tag, props = {}, ...children) {
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

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/* A sentence for the user from an ApiError (or anything thrown). */
function describeError(err) {
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

function showMessage(node, text) {
  node.textContent = text;
  node.hidden = false;
}

function hideMessage(node) {
  node.hidden = true;
  node.textContent = '';
}

function toast(text, kind = 'info', timeout = 6000) {
  const close = el('button', { type: 'button', class: 'btn-link', text: 'Dismiss' });
  const node = el('div', { class: `toast toast-${kind}` }, el('span', { class: 'toast-text', text }), close);
  if (kind === 'error') node.setAttribute('role', 'alert');
  const remove = () => node.remove();
  close.addEventListener('click', remove);
  $('toasts').append(node);
  if (timeout) window.setTimeout(remove, timeout);
}

function formatUptime(totalSeconds) {
  const s = Math.max(0, Math.floor(totalSeconds));
  const days = Math.floor(s / 86400);
  const hh = String(Math.floor((s % 86400) / 3600)).padStart(2, '0');
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return days > 0 ? `${days} d ${hh}:${mm}:${ss}` : `${hh}:${mm}:${ss}`;
}

function formatOffset(ms) {
  const sign = ms < 0 ? '−' : '+';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${sign}${Math.round(abs)} ms`;
  if (abs < 120000) return `${sign}${(abs / 1000).toFixed(1)} s`;
  if (abs < 2 * 3600000) return `${sign}${Math.round(abs / 60000)} min`;
  return `${sign}${(abs / 3600000).toFixed(1)} h`;
}

/* ---- top bar ---------------------------------------------------------------------------- */

function renderInfo(info) {
  const previous = app.info;
  app.info = info;
  app.infoAt = performance.now();

  const host = info.hostname || 'unknown host';
  setText($('device-host'), host);
  $('device-host').title = `Device host name: ${host}`;
  setText($('device-version'), info.version ? `v${info.version}` : '');
  document.title = `${host} · ipkvm`;

  if (info.user) renderUser(info.user);

  const backends = info.backends || {};
  const parts = Object.keys(BACKEND_LABELS)
    .filter((key) => key in backends)
    .map((key) => `${BACKEND_LABELS[key]}: ${backends[key]}`);
  setText($('backends'), parts.join(' · '));
  mountVideo(backends.video && backends.video !== 'none');

  if (previous && previous.version && info.version && previous.version !== info.version) {
    toast(`ipkvm was updated to ${info.version}. Reload the page to use the new version.`, 'info', 0);
  }
  renderUptime();
}

/* ---- video ------------------------------------------------------------------------------ */

/* The MJPEG stream in an <img>: the browser decodes each part as it arrives. The element
 * keeps the picture's own aspect ratio inside the 16:9 stage (letterboxed by CSS). When the
 * stream breaks (daemon restart, network), it is reopened after a short pause. */
function mountVideo(enabled) {
  const screen = $('screen');
  let img = $('screen-video');
  if (!enabled) {
    if (img) img.remove();
    $('screen-placeholder').hidden = false;
    return;
  }
  if (img) return;
  img = document.createElement('img');
  img.id = 'screen-video';
  img.className = 'screen-video';
  img.alt = 'Remote screen';
  img.draggable = false;
  img.addEventListener('error', () => {
    setTimeout(() => {
      if (img.isConnected) img.src = `/api/streamer/stream?t=${Date.now()}`;
    }, 1000);
  });
  img.src = '/api/streamer/stream';
  $('screen-placeholder').hidden = true;
  screen.append(img);
}

function renderUser(user) {
  app.me = { name: user.name, role: user.role };
  document.body.dataset.role = user.role;
  setText($('user-name'), user.name);
  $('user-name').title = `Signed in as ${user.name}`;
  const badge = $('role-badge');
  setText(badge, ROLE_BADGES[user.role] || user.role);
  badge.className = `badge badge-${user.role}`;
  badge.title = ROLE_TITLES[user.role] || '';
  $('user').hidden = false;
  $('btn-users').hidden = user.role !== 'admin';
  $('pw-username').value = user.name;
}

async function loadInfo() {
  try {
    renderInfo(await apiGet('/api/info'));
  } catch (err) {
    if (!app.info) setText($('device-host'), 'unknown device');
    toast(`Could not load device information: ${describeError(err)}`, 'error');
  }
}

async function logout() {
  const button = $('btn-logout');
  button.disabled = true;
  try {
    await apiPost('/api/auth/logout');
  } catch (err) {
    button.disabled = false;
    toast(`Could not log out: ${describeError(err)}`, 'error');
    return;
  }
  if (app.socket) app.socket.stop();
  window.location.replace('/login');
}

/* ---- status bar ------------------------------------------------------------------------- */

function renderUptime() {
  if (!app.info || !Number.isFinite(app.info.uptime)) return;
  const seconds = app.info.uptime + (performance.now() - app.infoAt) / 1000;
  setText($('uptime'), formatUptime(seconds));
}

let lastConnState = '';

function renderConnection() {
  const s = app.socket ? app.socket.state : { state: 'idle' };
  let text;
  switch (s.state) {
    case 'connected':
      text = 'connected';
      break;
    case 'connecting':
      text = s.attempt > 0 ? 'reconnecting…' : 'connecting…';
      break;
    case 'reconnecting': {
      const left = Math.max(0, Math.ceil((s.retryAt - performance.now()) / 1000));
      text = `reconnecting in ${left}\u00a0s…`;
      break;
    }
    case 'stopped':
      text = 'disconnected';
      break;
    default:
      text = 'connecting…';
  }
  setText($('conn-text'), text);
  const cls = `status-item status-conn conn-${s.state}`;
  if ($('conn').className !== cls) $('conn').className = cls;
  $('conn-retry').hidden = s.state !== 'reconnecting';

  // Announce only real changes of state, not every second of the countdown.
  if (s.state !== lastConnState) {
    if (s.state === 'connected') setText($('conn-live'), 'Connected to the device.');
    else if (s.state === 'reconnecting' && lastConnState === 'connected') {
      setText($('conn-live'), 'Connection to the device lost. Reconnecting.');
    }
    lastConnState = s.state;
  }
}

function renderClock(clock) {
  const node = $('clock-value');
  if (!clock) {
    setText(node, '–');
    return;
  }
  setText(node, `${formatOffset(clock.offset)} (RTT ${Math.round(clock.rtt)} ms)`);
  $('clock').classList.toggle('clock-warn', Math.abs(clock.offset) > CLOCK_WARN_MS);
}

function startSocket() {
  const socket = new EventSocket();
  app.socket = socket;

  socket.onState((s) => {
    renderConnection();
    // The server closes the socket when the session ends; a reconnect would then be
    // refused with HTTP 401, which a WebSocket cannot see. Ask the API instead: a 401
    // there sends the browser to the sign-in page.
    if (s.state === 'reconnecting') apiGet('/api/auth/check').catch(() => {});
  });
  socket.onClock(renderClock);

  socket.on('hello', ({ data }) => {
    // After a reconnect the daemon may have restarted: refresh uptime and version.
    if (app.sawHello) loadInfo();
    app.sawHello = true;
    if (app.me && data.role && data.role !== app.me.role) loadInfo();
  });

  $('conn-retry').addEventListener('click', () => socket.reconnectNow());
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) socket.reconnectNow();
  });
  // Leave the back/forward cache usable: close on pagehide, reopen when shown again.
  window.addEventListener('pagehide', () => socket.stop());
  window.addEventListener('pageshow', (ev) => {
    if (ev.persisted) socket.start();
  });

  socket.start();
}

/* ---- dialogs: common -------------------------------------------------------------------- */

function wireCloseButtons(dialog) {
  for (const button of dialog.querySelectorAll('[data-close]')) {
    button.addEventListener('click', () => dialog.close('cancel'));
  }
}

function setBusy(button, busy) {
  button.disabled = busy;
  button.setAttribute('aria-busy', busy ? 'true' : 'false');
}

/* Resolve true when the user confirms. */
function confirmAction({ title, text, confirmLabel = 'Confirm' }) {
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

/* Fails the form's native validation when two new-password fields differ. */
function checkRepeat(first, second) {
  second.setCustomValidity(first.value === second.value ? '' : 'The passwords do not match.');
  return second.reportValidity();
}

/* ---- change my password ----------------------------------------------------------------- */

function initPasswordDialog() {
  const dialog = $('password-dialog');
  const form = $('password-form');
  const error = $('pw-error');
  const oldInput = $('pw-old');
  const newInput = $('pw-new');
  const repeat = $('pw-confirm');
  wireCloseButtons(dialog);

  $('btn-password').addEventListener('click', () => {
    hideMessage(error);
    dialog.showModal();
  });
  dialog.addEventListener('close', () => {
    form.reset();
    if (app.me) $('pw-username').value = app.me.name;
    hideMessage(error);
  });
  repeat.addEventListener('input', () => repeat.setCustomValidity(''));
  newInput.addEventListener('input', () => repeat.setCustomValidity(''));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    hideMessage(error);
    if (!checkRepeat(newInput, repeat)) return;
    const submit = $('pw-submit');
    setBusy(submit, true);
    try {
      await apiPost('/api/auth/password', {
        old_password: oldInput.value,
        new_password: newInput.value,
      });
    } catch (err) {
      if (err.code === 'bad_credentials') {
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

function userPath(name) {
  return `/api/users/${encodeURIComponent(name)}`;
}

function usersMessage(kind, text) {
  hideMessage($('users-error'));
  hideMessage($('users-ok'));
  if (text) showMessage($(kind === 'ok' ? 'users-ok' : 'users-error'), text);
}

async function loadUsers() {
  const body = $('users-body');
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

function renderUsers(users) {
  const rows = [...users]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((user) => userRow(user));
  if (rows.length === 0) {
    rows.push(el('tr', {}, el('td', { colspan: '4', class: 'empty', text: 'No users.' })));
  }
  $('users-body').replaceChildren(...rows);
}

function userRow(user) {
  const isMe = app.me && user.name === app.me.name;

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
    if (isMe) $('btn-password').click();
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

async function changeRole(name, select, isMe) {
  const role = select.value;
  const previous = select.dataset.current;
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
    select.dataset.current = result.role || role;
    select.value = select.dataset.current;
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

function openReset(name) {
  resetName = name;
  setText($('reset-title'), `Reset password of ${name}`);
  setText($('reset-text'), `Set a new password for ${name}. Their sessions will be signed out.`);
  hideMessage($('reset-error'));
  $('reset-dialog').showModal();
}

function initUsersDialog() {
  const dialog = $('users-dialog');
  wireCloseButtons(dialog);
  $('btn-users').addEventListener('click', () => {
    usersMessage();
    hideMessage($('user-add-error'));
    dialog.showModal();
    loadUsers();
  });
  dialog.addEventListener('close', () => {
    $('user-add-form').reset();
    usersMessage();
    hideMessage($('user-add-error'));
  });

  // Add a user.
  const addForm = $('user-add-form');
  addForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const error = $('user-add-error');
    hideMessage(error);
    usersMessage();
    const name = $('add-name').value.trim();
    const body = { name, password: $('add-password').value, role: $('add-role').value };
    const submit = $('add-submit');
    setBusy(submit, true);
    try {
      await apiPost('/api/users', body);
    } catch (err) {
      showMessage(error, err.code === 'conflict' ? `A user named “${name}” already exists.` : describeError(err));
      return;
    } finally {
      setBusy(submit, false);
    }
    addForm.reset();
    usersMessage('ok', `The user ${name} was added.`);
    $('add-name').focus();
    await loadUsers();
  });

  // Reset someone's password.
  const resetDialog = $('reset-dialog');
  const resetForm = $('reset-form');
  const newInput = $('reset-new');
  const repeat = $('reset-confirm');
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
    const submit = $('reset-submit');
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

function init() {
  $('btn-logout').addEventListener('click', logout);
  initPasswordDialog();
  initUsersDialog();
  loadInfo();
  startSocket();
  // One timer for everything that counts: uptime and the reconnect countdown.
  window.setInterval(() => {
    renderUptime();
    renderConnection();
  }, 250);
}

init();
