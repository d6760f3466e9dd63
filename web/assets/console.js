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
 * Start-up: who the user is (GET /api/auth/check, with the language they chose on this
 * device), then the catalogs in that language (i18n.js) and the page's own texts, and only
 * then the parts, which take their words from the catalogs as they build themselves.
 * Changing the language (the top bar's select) tells the device and reloads the page.
 *
 * All text from the server goes into the page through textContent, never as markup.
 */

import { apiGet, apiPost } from './api.js';
import { App } from './app.js';
import { $, el, setText, describeError, toast, wireCloseButtons } from './ui.js';
import { t, hasText, initI18n, translatePage, languages, language, setLanguage, formatDuration, formatNumber,
  formatRate } from './i18n.js';
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
const ROLE_BADGES = { admin: 'console.role_admin', operator: 'console.role_operator', viewer: 'console.role_viewer' };
/** @type {Record<string, string>} */
const ROLE_TITLES = {
  admin: 'console.role_title_admin',
  operator: 'console.role_title_operator',
  viewer: 'console.role_title_viewer',
};
/** @type {Record<string, string>} */
const BACKEND_LABELS = {
  video: 'console.backend_video', hid: 'console.backend_hid', atx: 'console.backend_atx', msd: 'console.backend_msd',
};
// Above this, the device clock is worth a warning (TOTP codes and logs depend on it).
const CLOCK_WARN_MS = 30000;
/* The signal states the device reports (docs/api.md); each has its words under signal.word.
 * (status bar), signal.state., signal.explain. and signal.advice. (the overlay). */
const SIGNAL_STATES = ['ok', 'no_device', 'no_signal', 'no_sync', 'unsupported', 'busy', 'error'];
/* ---- the parts: built by start() once the catalogs are in ---------------------------- */

const app = new App();

/** @type {VideoView} */
let video;
/** @type {InputCapture} */
let input;
/** @type {PasteDialog} */
let paste;
/** @type {{keyboard: KeyboardMenu, mouse: MouseMenu, video: VideoMenu, power: PowerMenu, msd: MsdMenu}} */
let menus;

function buildParts() {
  video = new VideoView({
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

  input = new InputCapture({
    screen: $('screen'),
    socket: app.socket,
    geometry: () => video.geometry(),
    canControl: () => app.canControl(),
    mouseMode: () => app.mouseMode(),
    onChange: renderCapture,
    onLockError: (message) => toast(t('console.pointer_lock_failed', { message }), 'error', 5000),
  });

  paste = new PasteDialog({ dialog: $('paste-dialog', HTMLDialogElement) });
  const osk = new OnScreenKeyboard({ root: $('osk'), app, input });

  menus = {
    keyboard: new KeyboardMenu({ app, paste, osk }),
    mouse: new MouseMenu({ app, onHid: renderHid }),
    video: new VideoMenu({ app, video, stage: $('workspace'), screen: $('screen'), onStreamer: renderStreamer }),
    power: new PowerMenu({ app }),
    msd: new MsdMenu({ app }),
  };
}

/* ---- formatting ------------------------------------------------------------------------- */

/** @param {number} ms */
function formatMs(ms) {
  return formatNumber(Math.round(ms), { style: 'unit', unit: 'millisecond', unitDisplay: 'short', useGrouping: false });
}

/* The device clock's offset: signed, in ms below a second, else as a duration. */
/** @param {number} ms */
function formatOffset(ms) {
  const abs = Math.abs(ms);
  const sign = Math.round(abs) === 0 ? '' : ms < 0 ? '−' : '+';
  return sign + (abs < 1000 ? formatMs(abs) : formatDuration(abs / 1000));
}

/* ---- top bar ---------------------------------------------------------------------------- */

/** @param {Info} info */
function renderInfo(info) {
  const previous = app.info;
  app.info = info;
  app.infoAt = performance.now();

  const host = info.hostname || t('console.unknown_host');
  setText($('device-host'), host);
  $('device-host').title = t('console.device_host_title_named', { host });
  setText($('device-version'), info.version ? `v${info.version}` : ''); // i18n-ok: a version number
  document.title = `${host} · ipkvm`; // i18n-ok: a name and the product's name

  if (info.user) renderUser(info.user);

  const backends = info.backends || {};
  app.backends = backends;
  const parts = Object.keys(BACKEND_LABELS)
    .filter((key) => key in backends)
    .map((key) => t('console.backend_item', { backend: t(BACKEND_LABELS[key]), driver: backends[key] }));
  setText($('backends'), parts.join(' · '));
  video.setEnabled(app.has('video'));
  menus.video.setupCodec((info.features || []).includes('streamer.h264'));
  menus.power.setEnabled(app.has('atx'));
  menus.msd.setEnabled(app.has('msd'));
  loadModuleState();
  renderControls();

  if (previous && previous.version && info.version && previous.version !== info.version) {
    toast(t('console.updated', { version: info.version }), 'info', 0);
  }
  renderUptime();
}

/** @param {User} user */
function renderUser(user) {
  app.me = { name: user.name, role: user.role };
  document.body.dataset.role = user.role;
  setText($('user-name'), user.name);
  $('user-name').title = t('console.signed_in_as_named', { name: user.name });
  const badge = $('role-badge');
  setText(badge, ROLE_BADGES[user.role] ? t(ROLE_BADGES[user.role]) : user.role);
  badge.className = `badge badge-${user.role}`;
  badge.title = ROLE_TITLES[user.role] ? t(ROLE_TITLES[user.role]) : '';
  $('user').hidden = false;
  $('btn-users').hidden = user.role !== 'admin';
  $('pw-username', HTMLInputElement).value = user.name;
  $('view-only').hidden = user.role !== 'viewer';
}

/** @param {Promise<Info>} [pending] the answer, when already asked for (start-up) */
async function loadInfo(pending = apiGet('/api/info')) {
  try {
    renderInfo(await pending);
  } catch (err) {
    if (!app.info) setText($('device-host'), t('console.unknown_device'));
    toast(t('console.info_failed', { error: describeError(err) }), 'error');
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
    toast(t('console.logout_failed', { error: describeError(err) }), 'error');
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
  setText($('uptime'), formatDuration(seconds));
}

let lastConnState = '';

function renderConnection() {
  const s = app.socket.state;
  let text;
  switch (s.state) {
    case 'connected':
      text = t('status.connected');
      break;
    case 'connecting':
      text = t(s.attempt > 0 ? 'status.reconnecting' : 'status.connecting');
      break;
    case 'reconnecting': {
      const left = Math.max(0, Math.ceil((s.retryAt - performance.now()) / 1000));
      text = t('status.lost', { seconds: formatNumber(left) });
      break;
    }
    case 'ended':
      text = t('status.ended');
      break;
    case 'stopped':
      text = t('status.disconnected');
      break;
    default:
      text = t('status.connecting');
  }
  setText($('conn-text'), text);
  // While disconnected the other values are as last known: shown dimmed.
  $('statusbar').classList.toggle('status-stale', s.state !== 'connected');
  const cls = `status-item status-conn conn-${s.state}`;
  if ($('conn').className !== cls) $('conn').className = cls;
  $('conn-retry').hidden = s.state !== 'reconnecting';

  // Announce only real changes of state, not every second of the countdown.
  if (s.state !== lastConnState) {
    if (s.state === 'connected') setText($('conn-live'), t('status.live_connected'));
    else if (s.state === 'reconnecting' && lastConnState === 'connected') {
      setText($('conn-live'), t('status.live_lost'));
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
  const warn = Math.abs(clock.offset) > CLOCK_WARN_MS;
  $('clock').classList.toggle('clock-warn', warn);
  $('clock').title = warn
    ? t('status.clock_warn_title', { offset: formatDuration(Math.abs(clock.offset) / 1000) })
    : t('status.clock_title');
  renderLatency();
}

/* Measured from the pictures' capture times when pictures came lately (the clock offset
 * makes the device's and this computer's clocks comparable); else estimated from the
 * event socket's round trip plus one frame. */
function renderLatency() {
  const clock = app.clock;
  const fresh = app.videoLatency !== null && performance.now() - app.videoLatencyAt < 10000;
  if (fresh && app.videoLatency !== null) {
    setText($('latency'), formatMs(app.videoLatency));
    $('latency-item').title = t('status.latency_measured_title');
    return;
  }
  if (!clock) {
    setText($('latency'), '–');
    return;
  }
  const fps = (app.streamer && app.streamer.encoded_fps) || 0;
  const frame = fps > 0 ? 1000 / fps : 0;
  setText($('latency'), t('status.latency_estimate', { ms: formatMs(clock.rtt / 2 + frame) }));
  $('latency-item').title = t('status.latency_estimate_title', { rtt: formatMs(clock.rtt) });
}

/** @param {StreamerState | null} st */
function renderStreamer(st) {
  app.streamer = st;
  const sig = $('signal');
  if (!st) {
    setText(sig, app.has('video') ? '…' : t('status.none'));
    sig.dataset.state = 'none';
    renderSignalOverlay(null);
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
  setText(sig, t(`signal.word.${signalState(signal)}`));
  $('st-signal').title = signal.reason
    ? t('status.signal_title_reason', { reason: signal.reason })
    : t('status.signal_title');
  const ok = signal.state === 'ok';
  setText($('resolution'), ok && signal.width ? `${signal.width}×${signal.height}` : '–');
  const h264 = video.codec === 'h264' && st.h264;
  const shownFps = h264 ? (app.h264Stats ? app.h264Stats.fps : 0) : st.encoded_fps || 0;
  setText($('fps'), ok
    ? t('status.fps', {
      shown: formatNumber(Math.round(shownFps)),
      captured: formatNumber(Math.round(signal.fps || st.capture_fps || 0)),
    })
    : '–');
  setText($('bandwidth'), formatRate(h264 && st.h264 ? st.h264.bytes_per_s : st.bytes_per_s));
  setText($('codec'), video.codec === 'h264' ? 'H.264' : 'MJPEG');
  setText($('watchers'), typeof st.clients === 'number' ? formatNumber(st.clients) : '–');
  video.setSignal(ok ? signal : null);
  renderSignalOverlay(app.has('video') ? signal : null);
  menus.video.render();
}

/**
 * The state of a signal as one the catalogs have words for.
 * @param {import('./app.js').Signal} signal
 */
function signalState(signal) {
  return signal.state && SIGNAL_STATES.includes(signal.state) ? signal.state : 'unknown';
}

/**
 * Over the device's placeholder picture (English, drawn by the device): what a signal that
 * is not ok means and what to do about it, for the capture hardware where that differs, with
 * the device's own reason as a detail line. Hidden while the signal is ok.
 * @param {import('./app.js').Signal | null} signal
 */
function renderSignalOverlay(signal) {
  const overlay = $('signal-overlay');
  if (!signal || !signal.state || signal.state === 'ok') {
    overlay.hidden = true;
    delete overlay.dataset.state;
    return;
  }
  const state = SIGNAL_STATES.includes(signal.state) ? signal.state : 'error';
  // Advice for the capture hardware where the catalog has some, else for the state.
  const forHardware = `signal.advice.${state}_${signal.capture || ''}`;
  setText($('signal-title'), t(`signal.state.${state}`));
  setText($('signal-explain'), t(`signal.explain.${state}`));
  setText($('signal-advice'), hasText(forHardware) ? t(forHardware) : t(`signal.advice.${state}`));
  const detail = $('signal-detail');
  setText(detail, signal.reason ? t('signal.detail', { reason: signal.reason }) : '');
  detail.hidden = !signal.reason;
  overlay.dataset.state = state;
  overlay.dataset.capture = signal.capture || '';
  overlay.hidden = false;
}

/** @param {HidState | null} state */
function renderHid(state) {
  const previousMode = app.mouseMode();
  app.hid = state;
  const node = $('hid-state');
  if (!state) {
    setText(node, app.has('hid') ? '…' : t('status.hid_none'));
    node.dataset.state = 'none';
    $('st-hid').title = t('status.hid_title');
  } else {
    setText(node, t(state.online ? 'status.hid_online' : 'status.hid_offline'));
    node.dataset.state = state.online ? 'online' : 'offline';
    $('st-hid').title = t('status.hid_title_state', {
      output: state.output || '',
      state: state.online ? t('status.hid_online') : state.reason || t('status.hid_offline'),
    });
  }
  const leds = (state && state.leds) || {};
  for (const name of ['num', 'caps', 'scroll']) {
    const led = $(`led-${name}`);
    led.dataset.on = leds[name] ? 'true' : 'false';
    const label = t(`status.led_${name}`);
    led.title = t(leds[name] ? 'status.led_on' : 'status.led_off', { name: label });
  }
  if (app.mouseMode() !== previousMode && document.pointerLockElement) document.exitPointerLock();
  renderControls();
}

/** @type {Record<string, string>} input capture state -> its words */
const CAPTURE_TEXT = {
  off: 'status.capture_off',
  keyboard: 'status.capture_keyboard',
  'pointer-lock': 'status.capture_pointer_lock',
  view: 'status.capture_view',
  none: 'status.capture_none',
};

function renderCapture() {
  const node = $('capture');
  let state = 'off';
  if (!app.isOperator()) state = 'view';
  else if (!app.has('hid')) state = 'none';
  else state = input.state();
  node.dataset.state = state;
  setText(node, t(CAPTURE_TEXT[state] || 'status.capture_off'));
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
    toast(t('console.input_refused', { error: describeError(data) }), 'error');
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
    const target = ev.target;
    if (target === $('screen') || (target instanceof Element && target.closest('input, textarea, select, dialog'))) {
      return;
    }
    ev.preventDefault();
    closeMenus();
    dialog.showModal();
  });
}

/* ---- language -------------------------------------------------------------------------- */

/**
 * The top bar's language select: each language by its own name, and the browser's choice.
 * Choosing one tells the device (it remembers it for this user) and reloads the page in it;
 * when the device cannot be told, the choice still holds in this browser.
 * @param {string | null} chosen the user's language as the device keeps it
 */
function initLanguage(chosen) {
  const select = $('language-select', HTMLSelectElement);
  select.replaceChildren(
    el('option', { value: '', text: t('language.auto') }),
    ...languages().map(({ code, name }) => el('option', { value: code, lang: code, text: name })),
  );
  select.value = chosen && languages().some((l) => l.code === chosen) ? chosen : language();
  select.addEventListener('change', async () => {
    const code = select.value;
    select.disabled = true;
    try {
      await apiPost('/api/auth/language', { language: code || null });
    } catch (err) {
      toast(t('language.save_failed', { error: describeError(err) }), 'error', 0);
      // Long enough to read it; then the page comes back in the chosen language anyway.
      await new Promise((resolve) => window.setTimeout(resolve, 4000));
    }
    setLanguage(code);
  });
}

/* ---- start ------------------------------------------------------------------------------ */

/* Who is here, and the language they chose on this device (null: none yet, or a device that
 * does not keep one). A 401 sends the browser to the sign-in page (api.js). */
async function whoAmI() {
  try {
    const me = await apiGet('/api/auth/check');
    return { language: me && typeof me.language === 'string' && me.language ? me.language : null };
  } catch {
    return { language: null };
  }
}

async function start() {
  // The device's information is asked for at once, with who the user is: the picture
  // starts as soon as the page is built, not one round trip later.
  /** @type {Promise<Info>} */
  const info = apiGet('/api/info');
  info.catch(() => {}); /* loadInfo reports it */
  const me = await whoAmI();
  await initI18n(me.language);
  translatePage();
  buildParts();
  initLanguage(me.language);
  init(info);
}

/** @param {Promise<Info>} info */
function init(info) {
  initMenus($('menubar'), Object.values(menus));
  $('btn-logout').addEventListener('click', logout);
  initAccount(app);
  initHelp();
  startSocket();
  loadInfo(info);
  // One timer for everything that counts: uptime, the reconnect countdown, picture size.
  window.setInterval(() => {
    renderUptime();
    renderConnection();
    video.poll();
  }, 250);
}

start();
