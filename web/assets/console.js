// @ts-check
/*
 * console.js — the operator console: wires the page together.
 *
 * The top bar (device, menus, user, role, session actions), the remote screen (video.js for
 * the picture, input.js for keyboard and mouse), the status bar, and the live state: every
 * module's state is read once over HTTP when the event socket (re)connects and then follows
 * the socket's events (`streamer`, `hid`, `hid_type`, `atx`, `msd`). Only endpoints whose
 * backend exists (GET /api/info `backends`) and that the user's role may use are ever called,
 * so an ordinary session never produces an error response.
 *
 * This module is the console's composition root: it creates the App (app.js, the shared
 * state), the video view, the input capture, the paste dialog, the on-screen keyboard and
 * the menus (each a Menu, menus.js), handing each its dependencies, and it is the only
 * writer of the App. After every change of the shared state it calls render() on the parts
 * that show it.
 *
 * All text from the server goes into the page through textContent, never as markup.
 */

import { apiGet, apiPost } from './api.js';
import { App } from './app.js';
import { $, setText, describeError, toast, wireCloseButtons } from './ui.js';
import { initAccount } from './account.js';
import { VideoView } from './video.js';
import { InputCapture } from './input.js';
import { initMenus, closeMenus } from './menus.js';
import { KeyboardMenu } from './keyboard.js';
import { PasteDialog } from './paste.js';
import { OnScreenKeyboard } from './osk.js';
import { MouseMenu } from './mouse.js';
import { VideoMenu } from './videomenu.js';
import { PowerMenu } from './power.js';
import { MsdMenu } from './msd.js';

/** @typedef {import('./app.js').Info} Info */
/** @typedef {import('./app.js').User} User */
/** @typedef {import('./app.js').StreamerState} StreamerState */
/** @typedef {import('./app.js').HidState} HidState */
/** @typedef {import('./app.js').Clock} Clock */

/** @type {Record<string, string>} */
const ROLE_BADGES = { admin: 'admin', operator: 'operator', viewer: 'view only' };
/** @type {Record<string, string>} */
const ROLE_TITLES = {
  admin: 'Full control, including user management',
  operator: 'Can control the target computer',
  viewer: 'Can watch the target computer but not control it',
};
/** @type {Record<string, string>} */
const BACKEND_LABELS = { video: 'video', hid: 'keyboard/mouse', atx: 'power', msd: 'virtual media' };
// Above this, the device clock is worth a warning (TOTP codes and logs depend on it).
const CLOCK_WARN_MS = 30000;
/** @type {Record<string, string>} */
const SIGNAL_TEXT = {
  ok: 'signal',
  no_device: 'no device',
  no_signal: 'no signal',
  no_sync: 'no sync',
  unsupported: 'unsupported',
  busy: 'device busy',
  error: 'error',
};

/* ---- the parts -------------------------------------------------------------------------- */

const app = new App();

const video = new VideoView({
  canvas: $('screen-video', HTMLCanvasElement),
  placeholder: $('screen-placeholder'),
  wait: $('screen-wait'),
  clockOffset: () => (app.clock ? app.clock.offset : null),
  onLatency: (ms) => {
    app.videoLatency = ms;
    app.videoLatencyAt = performance.now();
    renderLatency();
  },
  onStats: (stats) => {
    app.h264Stats = stats;
  },
});

const input = new InputCapture({
  screen: $('screen'),
  socket: app.socket,
  geometry: () => video.geometry(),
  canControl: () => app.canControl(),
  mouseMode: () => app.mouseMode(),
  onChange: renderCapture,
  onLockError: (message) => toast(`The browser did not lock the pointer (${message}). Click the screen again.`, 'error', 5000),
});

const paste = new PasteDialog({ dialog: $('paste-dialog', HTMLDialogElement) });
const osk = new OnScreenKeyboard({ root: $('osk'), app, input });

const menus = {
  keyboard: new KeyboardMenu({ app, paste, osk }),
  mouse: new MouseMenu({ app, onHid: renderHid }),
  video: new VideoMenu({ app, video, stage: $('workspace'), screen: $('screen'), onStreamer: renderStreamer }),
  power: new PowerMenu({ app }),
  msd: new MsdMenu({ app }),
};

/* ---- formatting ------------------------------------------------------------------------- */

/** @param {number} totalSeconds */
function formatUptime(totalSeconds) {
  const s = Math.max(0, Math.floor(totalSeconds));
  const days = Math.floor(s / 86400);
  const hh = String(Math.floor((s % 86400) / 3600)).padStart(2, '0');
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return days > 0 ? `${days} d ${hh}:${mm}:${ss}` : `${hh}:${mm}:${ss}`;
}

/** @param {number} ms */
function formatOffset(ms) {
  const sign = ms < 0 ? '−' : '+';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${sign}${Math.round(abs)} ms`;
  if (abs < 120000) return `${sign}${(abs / 1000).toFixed(1)} s`;
  if (abs < 2 * 3600000) return `${sign}${Math.round(abs / 60000)} min`;
  return `${sign}${(abs / 3600000).toFixed(1)} h`;
}

/** @param {number | undefined} bytesPerSecond */
function formatRate(bytesPerSecond) {
  const bits = Math.max(0, Number(bytesPerSecond) || 0) * 8;
  if (bits >= 1e6) return `${(bits / 1e6).toFixed(bits >= 1e8 ? 0 : 1)} Mbit/s`;
  if (bits >= 1e3) return `${Math.round(bits / 1e3)} kbit/s`;
  return `${Math.round(bits)} bit/s`;
}

/* ---- top bar ---------------------------------------------------------------------------- */

/** @param {Info} info */
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
  app.backends = backends;
  const parts = Object.keys(BACKEND_LABELS)
    .filter((key) => key in backends)
    .map((key) => `${BACKEND_LABELS[key]}: ${backends[key]}`);
  setText($('backends'), parts.join(' · '));
  video.setEnabled(app.has('video'));
  menus.video.setupCodec((info.features || []).includes('streamer.h264'));
  menus.power.setEnabled(app.has('atx'));
  menus.msd.setEnabled(app.has('msd'));
  loadModuleState();
  renderControls();

  if (previous && previous.version && info.version && previous.version !== info.version) {
    toast(`ipkvm was updated to ${info.version}. Reload the page to use the new version.`, 'info', 0);
  }
  renderUptime();
}

/** @param {User} user */
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
  $('pw-username', HTMLInputElement).value = user.name;
  $('view-only').hidden = user.role !== 'viewer';
}

async function loadInfo() {
  try {
    renderInfo(await apiGet('/api/info'));
  } catch (err) {
    if (!app.info) setText($('device-host'), 'unknown device');
    toast(`Could not load device information: ${describeError(err)}`, 'error');
  }
}

/* The state of every module, read afresh (first load, and after each reconnect, since
 * events sent while disconnected are lost). Only what exists is asked for. */
function loadModuleState() {
  if (app.has('video')) {
    apiGet('/api/streamer').then(renderStreamer, () => {});
  } else {
    renderStreamer(null);
  }
  if (app.has('hid')) {
    apiGet('/api/hid').then(renderHid, () => {});
  } else {
    renderHid(null);
  }
  if (app.has('atx')) menus.power.load();
  if (app.has('msd')) menus.msd.load();
}

async function logout() {
  const button = $('btn-logout', HTMLButtonElement);
  button.disabled = true;
  // Close the socket and the stream first, so nothing tries to reconnect while the
  // session ends.
  app.ended = true;
  input.releaseAll();
  app.socket.stop();
  video.stop();
  try {
    await apiPost('/api/auth/logout');
  } catch (err) {
    button.disabled = false;
    app.ended = false;
    toast(`Could not log out: ${describeError(err)}`, 'error');
    app.socket.start();
    return;
  }
  window.location.replace('/login');
}

/* ---- which controls are usable ----------------------------------------------------------- */

/* Each menu decides which of its controls this user may use now. */
function renderControls() {
  for (const menu of Object.values(menus)) menu.render();
  const screen = $('screen');
  screen.classList.toggle('screen-controllable', app.isOperator() && app.has('hid'));
  screen.classList.toggle('screen-relative', app.mouseMode() === 'relative');
  renderCapture();
}

/* ---- status bar ------------------------------------------------------------------------- */

function renderUptime() {
  const uptime = app.info && app.info.uptime;
  if (typeof uptime !== 'number' || !Number.isFinite(uptime)) return;
  const seconds = uptime + (performance.now() - app.infoAt) / 1000;
  setText($('uptime'), formatUptime(seconds));
}

let lastConnState = '';

function renderConnection() {
  const s = app.socket.state;
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
      text = `connection lost · retry in ${left}\u00a0s`;
      break;
    }
    case 'ended':
      text = 'session ended';
      break;
    case 'stopped':
      text = 'disconnected';
      break;
    default:
      text = 'connecting…';
  }
  setText($('conn-text'), text);
  // While disconnected the other values are as last known: shown dimmed.
  $('statusbar').classList.toggle('status-stale', s.state !== 'connected');
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

/** @param {Clock | null} clock */
function renderClock(clock) {
  app.clock = clock;
  const node = $('clock-value');
  if (!clock) {
    setText(node, '–');
    renderLatency();
    return;
  }
  setText(node, formatOffset(clock.offset));
  $('clock').classList.toggle('clock-warn', Math.abs(clock.offset) > CLOCK_WARN_MS);
  renderLatency();
}

/* Measured from the pictures' capture times when pictures came lately (the clock offset
 * makes the device's and this computer's clocks comparable); else estimated from the
 * event socket's round trip plus one frame. */
function renderLatency() {
  const clock = app.clock;
  const fresh = app.videoLatency !== null && performance.now() - app.videoLatencyAt < 10000;
  if (fresh && app.videoLatency !== null) {
    setText($('latency'), `${Math.round(app.videoLatency)} ms`);
    $('latency-item').title = 'Latency: from the capture of a picture to its display here (median of the last pictures)';
    return;
  }
  if (!clock) {
    setText($('latency'), '–');
    return;
  }
  const fps = (app.streamer && app.streamer.encoded_fps) || 0;
  const frame = fps > 0 ? 1000 / fps : 0;
  setText($('latency'), `≈${Math.round(clock.rtt / 2 + frame)} ms`);
  $('latency-item').title = `Latency estimate: half the round trip to the device (${Math.round(clock.rtt)} ms) plus one frame`;
}

/** @param {StreamerState | null} st */
function renderStreamer(st) {
  app.streamer = st;
  const sig = $('signal');
  if (!st) {
    setText(sig, app.has('video') ? '…' : 'none');
    sig.dataset.state = 'none';
    setText($('resolution'), '–');
    setText($('fps'), '–');
    setText($('bandwidth'), '–');
    setText($('watchers'), '–');
    video.setSignal(null);
    menus.video.render();
    return;
  }
  const signal = st.signal || {};
  sig.dataset.state = signal.state || 'none';
  setText(sig, (signal.state && SIGNAL_TEXT[signal.state]) || signal.state || '?');
  $('st-signal').title = signal.reason ? `Video signal: ${signal.reason}` : 'Video signal from the target';
  const ok = signal.state === 'ok';
  setText($('resolution'), ok && signal.width ? `${signal.width}×${signal.height}` : '–');
  const h264 = video.codec === 'h264' && st.h264;
  const shownFps = h264 ? (app.h264Stats ? app.h264Stats.fps : 0) : st.encoded_fps || 0;
  setText($('fps'), ok ? `${Math.round(shownFps)}/${Math.round(signal.fps || st.capture_fps || 0)} fps` : '–');
  setText($('bandwidth'), h264 && st.h264 ? formatRate(st.h264.bytes_per_s) : formatRate(st.bytes_per_s));
  setText($('codec'), video.codec === 'h264' ? 'H.264' : 'MJPEG');
  setText($('watchers'), String(st.clients ?? '–'));
  video.setSignal(ok ? signal : null);
  menus.video.render();
  const title = $('placeholder-title');
  if (title && !app.has('video')) setText(title, 'No video source configured');
}

/** @param {HidState | null} state */
function renderHid(state) {
  const previousMode = app.mouseMode();
  app.hid = state;
  const node = $('hid-state');
  if (!state) {
    setText(node, app.has('hid') ? '…' : 'none');
    node.dataset.state = 'none';
  } else {
    setText(node, state.online ? 'online' : 'offline');
    node.dataset.state = state.online ? 'online' : 'offline';
    $('st-hid').title = `Keyboard and mouse output (${state.output}): ${state.online ? 'online' : state.reason || 'offline'}`;
  }
  const leds = (state && state.leds) || {};
  for (const name of ['num', 'caps', 'scroll']) {
    const led = $(`led-${name}`);
    led.dataset.on = leds[name] ? 'true' : 'false';
  }
  if (app.mouseMode() !== previousMode && document.pointerLockElement) document.exitPointerLock();
  renderControls();
}

function renderCapture() {
  const node = $('capture');
  let state = 'off';
  let text = 'released';
  if (!app.isOperator()) {
    state = 'view';
    text = 'view only';
  } else if (!app.has('hid')) {
    state = 'none';
    text = 'none';
  } else {
    const s = input.state();
    state = s;
    text = { off: 'released', keyboard: 'captured', 'pointer-lock': 'captured (pointer locked)' }[s];
  }
  node.dataset.state = state;
  setText(node, text);
  $('screen').classList.toggle('screen-captured', state === 'keyboard' || state === 'pointer-lock');
}

/* ---- the event socket -------------------------------------------------------------------- */

function startSocket() {
  const socket = app.socket;

  socket.onState((s) => {
    renderConnection();
    renderControls();
    // A reconnect that fails may mean the session is gone (the daemon restarted: sessions
    // live in memory), which a WebSocket cannot tell. Ask the API: a 401 there sends the
    // browser to the sign-in page.
    if (s.state === 'reconnecting') apiGet('/api/auth/check').catch(() => {});
    if (s.state === 'ended' && !app.ended) {
      // The server ended this session's sockets: a logout elsewhere or an expiry (then
      // the check answers 401 and the browser goes to the sign-in page), or our own
      // password change, whose answer carries a fresh session cookie (then carry on).
      // The pause lets that answer arrive first.
      window.setTimeout(async () => {
        await apiGet('/api/auth/check').catch(() => {});
        if (!app.ended) app.socket.start();
      }, 500);
    }
  });
  socket.onClock(renderClock);

  socket.on('hello', ({ data }) => {
    // After a reconnect the daemon may have restarted: refresh everything.
    if (app.sawHello) {
      loadInfo();
      video.reconnect();
    } else if (app.info) {
      loadModuleState();
    }
    app.sawHello = true;
    if (app.me && data.role && data.role !== app.me.role) loadInfo();
  });
  socket.on('streamer', ({ data }) => renderStreamer(data));
  socket.on('hid', ({ data }) => renderHid(data));
  socket.on('hid_type', ({ data }) => paste.onTypeEvent(data));
  socket.on('atx', ({ data }) => menus.power.update(data));
  socket.on('msd', ({ data }) => menus.msd.update(data));
  socket.on('msd_fetch', ({ data }) => menus.msd.onFetchEvent(data));
  /** @type {Set<string>} */
  const reported = new Set();
  socket.on('error', ({ data }) => {
    // Input the device refused. Said once per kind, not once per key.
    const key = `${data.code}:${data.message}`;
    if (reported.has(key)) return;
    reported.add(key);
    toast(`The device refused input: ${data.message || data.code}`, 'error');
  });

  $('conn-retry').addEventListener('click', () => socket.reconnectNow());
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) socket.reconnectNow();
  });
  // Leave the back/forward cache usable: close on pagehide, reopen when shown again.
  window.addEventListener('pagehide', () => socket.stop());
  window.addEventListener('pageshow', (/** @type {PageTransitionEvent} */ ev) => {
    if (ev.persisted && !app.ended) socket.start();
  });

  socket.start();
}

/* ---- help -------------------------------------------------------------------------------- */

function initHelp() {
  const dialog = $('help-dialog', HTMLDialogElement);
  wireCloseButtons(dialog);
  $('btn-help').addEventListener('click', () => dialog.showModal());
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== '?' || ev.defaultPrevented) return;
    const t = ev.target;
    if (t === $('screen') || (t instanceof Element && t.closest('input, textarea, select, dialog'))) return;
    ev.preventDefault();
    closeMenus();
    dialog.showModal();
  });
}

/* ---- start ------------------------------------------------------------------------------ */

function init() {
  initMenus($('menubar'), Object.values(menus));
  $('btn-logout').addEventListener('click', logout);
  initAccount(app);
  initHelp();
  startSocket();
  loadInfo();
  // One timer for everything that counts: uptime, the reconnect countdown, picture size.
  window.setInterval(() => {
    renderUptime();
    renderConnection();
    video.poll();
  }, 250);
}

init();
