/*
 * console.js — the operator console: wires the page together.
 *
 * The top bar (device, menus, user, role, session actions), the remote screen (video.js for
 * the picture, input.js for keyboard and mouse), the status bar, and the live state: every
 * module's state is read once over HTTP when the event socket (re)connects and then follows
 * the socket's events (`streamer`, `hid`, `hid_type`, `atx`). Only endpoints whose backend
 * exists (GET /api/info `backends`) and that the user's role may use are ever called, so an
 * ordinary session never produces an error response.
 *
 * All text from the server goes into the page through textContent, never as markup.
 */

import { apiGet, apiPost, EventSocket } from './api.js';
import { $, setText, describeError, toast, wireCloseButtons } from './ui.js';
import { initAccount } from './account.js';
import { VideoView } from './video.js';
import { H264Player } from './h264.js';
import { InputCapture } from './input.js';
import { initMenus, closeMenus } from './menus.js';
import { KeyboardMenu } from './keyboard.js';
import { PowerMenu } from './power.js';
import { MsdMenu } from './msd.js';

const ROLE_BADGES = { admin: 'admin', operator: 'operator', viewer: 'view only' };
const ROLE_TITLES = {
  admin: 'Full control, including user management',
  operator: 'Can control the target computer',
  viewer: 'Can watch the target computer but not control it',
};
const BACKEND_LABELS = { video: 'video', hid: 'keyboard/mouse', atx: 'power', msd: 'virtual media' };
// Above this, the device clock is worth a warning (TOTP codes and logs depend on it).
const CLOCK_WARN_MS = 30000;
const SIGNAL_TEXT = {
  ok: 'signal',
  no_device: 'no device',
  no_signal: 'no signal',
  no_sync: 'no sync',
  unsupported: 'unsupported',
  busy: 'device busy',
  error: 'error',
};
const JIGGLER_INTERVAL_S = 60;

const app = {
  info: null,
  infoAt: 0, // performance.now() when info.uptime was read
  me: null, // { name, role }
  socket: null,
  sawHello: false,
  backends: {},
  streamer: null,
  hid: null,
  clock: null,
  ended: false,
  video: null,
  input: null,
  keyboard: null,
  power: null,
  msd: null,
};

const has = (backend) => Boolean(app.backends[backend]) && app.backends[backend] !== 'none';
const isOperator = () => Boolean(app.me) && app.me.role !== 'viewer';
const canControl = () => isOperator() && has('hid') && Boolean(app.socket && app.socket.connected);
const mouseMode = () => (app.hid && app.hid.mouse_mode === 'relative' ? 'relative' : 'absolute');

/* ---- formatting ------------------------------------------------------------------------- */

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

function formatRate(bytesPerSecond) {
  const bits = Math.max(0, Number(bytesPerSecond) || 0) * 8;
  if (bits >= 1e6) return `${(bits / 1e6).toFixed(bits >= 1e8 ? 0 : 1)} Mbit/s`;
  if (bits >= 1e3) return `${Math.round(bits / 1e3)} kbit/s`;
  return `${Math.round(bits)} bit/s`;
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
  app.backends = backends;
  const parts = Object.keys(BACKEND_LABELS)
    .filter((key) => key in backends)
    .map((key) => `${BACKEND_LABELS[key]}: ${backends[key]}`);
  setText($('backends'), parts.join(' · '));
  app.video.setEnabled(has('video'));
  setupCodec((info.features || []).includes('streamer.h264'));
  app.power.setEnabled(has('atx'));
  app.msd.setEnabled(has('msd'));
  loadModuleState();
  renderControls();

  if (previous && previous.version && info.version && previous.version !== info.version) {
    toast(`ipkvm was updated to ${info.version}. Reload the page to use the new version.`, 'info', 0);
  }
  renderUptime();
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
  if (has('video')) {
    apiGet('/api/streamer').then(renderStreamer, () => {});
  } else {
    renderStreamer(null);
  }
  if (has('hid')) {
    apiGet('/api/hid').then(renderHid, () => {});
  } else {
    renderHid(null);
  }
  if (has('atx')) app.power.load();
  if (has('msd')) app.msd.load();
}

async function logout() {
  const button = $('btn-logout');
  button.disabled = true;
  // Close the socket and the stream first, so nothing tries to reconnect while the
  // session ends.
  app.ended = true;
  if (app.input) app.input.releaseAll();
  if (app.socket) app.socket.stop();
  app.video.stop();
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

function renderControls() {
  const operator = isOperator();
  const hid = has('hid');
  for (const node of document.querySelectorAll('[data-operator]')) {
    if (node.closest('#menu-power') || node.closest('#menu-msd')) continue; // their modules decide
    let usable = operator;
    if (node.closest('#menu-keyboard') || node.closest('#menu-mouse')) usable = usable && hid;
    if (node.closest('#menu-video')) usable = usable && has('video');
    node.disabled = !usable;
  }
  const video = has('video');
  $('btn-snapshot').classList.toggle('menu-item-disabled', !video);
  if (video) $('btn-snapshot').setAttribute('href', '/api/streamer/snapshot');
  else $('btn-snapshot').removeAttribute('href');
  $('btn-fullscreen').disabled = !video;
  app.power.render();
  app.msd.render();
  const screen = $('screen');
  screen.classList.toggle('screen-controllable', operator && hid);
  screen.classList.toggle('screen-relative', mouseMode() === 'relative');
  renderCapture();
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
  const fresh = app.videoLatency !== undefined && performance.now() - app.videoLatencyAt < 10000;
  if (fresh) {
    setText($('latency'), `${Math.round(app.videoLatency)} ms`);
    $('latency-item').title = 'Latency: from the capture of a picture to its display here (median of the last pictures)';
    return;
  }
  if (!clock) {
    setText($('latency'), '–');
    return;
  }
  const fps = app.streamer && app.streamer.encoded_fps > 0 ? app.streamer.encoded_fps : 0;
  const frame = fps > 0 ? 1000 / fps : 0;
  setText($('latency'), `≈${Math.round(clock.rtt / 2 + frame)} ms`);
  $('latency-item').title = `Latency estimate: half the round trip to the device (${Math.round(clock.rtt)} ms) plus one frame`;
}

function renderStreamer(st) {
  app.streamer = st;
  const sig = $('signal');
  if (!st) {
    setText(sig, has('video') ? '…' : 'none');
    sig.dataset.state = 'none';
    setText($('resolution'), '–');
    setText($('fps'), '–');
    setText($('bandwidth'), '–');
    setText($('watchers'), '–');
    app.video.setSignal(null);
    return;
  }
  const signal = st.signal || {};
  sig.dataset.state = signal.state || 'none';
  setText(sig, SIGNAL_TEXT[signal.state] || signal.state || '?');
  $('st-signal').title = signal.reason ? `Video signal: ${signal.reason}` : 'Video signal from the target';
  const ok = signal.state === 'ok';
  setText($('resolution'), ok && signal.width ? `${signal.width}×${signal.height}` : '–');
  const h264 = app.video.codec === 'h264' && st.h264;
  const shownFps = h264 ? (app.h264Stats ? app.h264Stats.fps : 0) : st.encoded_fps || 0;
  setText($('fps'), ok ? `${Math.round(shownFps)}/${Math.round(signal.fps || st.capture_fps || 0)} fps` : '–');
  setText($('bandwidth'), h264 ? formatRate(st.h264.bytes_per_s) : formatRate(st.bytes_per_s));
  setText($('codec'), app.video.codec === 'h264' ? 'H.264' : 'MJPEG');
  if (st.h264 && st.h264.bitrate) setSelect($('video-bitrate'), st.h264.bitrate);
  setText($('watchers'), String(st.clients ?? '–'));
  app.video.setSignal(ok ? signal : null);
  if (st.quality) setSelect($('video-quality'), st.quality);
  if (st.max_fps) setSelect($('video-fps'), st.max_fps);
  const title = $('placeholder-title');
  if (title && !has('video')) setText(title, 'No video source configured');
}

/* Select `value`, adding an option for it when the list does not have it. */
function setSelect(select, value) {
  const v = String(value);
  if (![...select.options].some((o) => o.value === v)) {
    const opt = document.createElement('option');
    opt.value = v;
    opt.textContent = v;
    select.append(opt);
  }
  if (select.value !== v && document.activeElement !== select) select.value = v;
}

function renderHid(state) {
  const previousMode = mouseMode();
  app.hid = state;
  const node = $('hid-state');
  if (!state) {
    setText(node, has('hid') ? '…' : 'none');
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
  if (state) {
    $('mouse-abs').checked = state.mouse_mode !== 'relative';
    $('mouse-rel').checked = state.mouse_mode === 'relative';
    $('jiggler').checked = Boolean(state.jiggler && state.jiggler.interval > 0);
  }
  if (mouseMode() !== previousMode && document.pointerLockElement) document.exitPointerLock();
  renderControls();
}

function renderCapture() {
  const node = $('capture');
  let state = 'off';
  let text = 'released';
  if (!isOperator()) {
    state = 'view';
    text = 'view only';
  } else if (!has('hid')) {
    state = 'none';
    text = 'none';
  } else if (app.input) {
    state = app.input.state();
    text = { off: 'released', keyboard: 'captured', 'pointer-lock': 'captured (pointer locked)' }[state];
  }
  node.dataset.state = state;
  setText(node, text);
  $('screen').classList.toggle('screen-captured', state === 'keyboard' || state === 'pointer-lock');
}

/* ---- the event socket -------------------------------------------------------------------- */

function startSocket() {
  const socket = new EventSocket();
  app.socket = socket;

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
      app.video.reconnect();
    } else if (app.info) {
      loadModuleState();
    }
    app.sawHello = true;
    if (app.me && data.role && data.role !== app.me.role) loadInfo();
  });
  socket.on('streamer', ({ data }) => renderStreamer(data));
  socket.on('hid', ({ data }) => renderHid(data));
  socket.on('hid_type', ({ data }) => app.keyboard.onTypeEvent(data));
  socket.on('atx', ({ data }) => app.power.update(data));
  socket.on('msd', ({ data }) => app.msd.update(data));
  socket.on('msd_fetch', ({ data }) => app.msd.onFetchEvent(data));
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
  window.addEventListener('pageshow', (ev) => {
    if (ev.persisted && !app.ended) socket.start();
  });

  socket.start();
}

/* ---- menus: mouse and video -------------------------------------------------------------- */

function initMouseMenu() {
  for (const radio of document.querySelectorAll('input[name="mouse-mode"]')) {
    radio.addEventListener('change', async () => {
      if (!radio.checked) return;
      try {
        renderHid(await apiPost('/api/hid/mouse/mode', { mode: radio.value }));
      } catch (err) {
        toast(`Could not change the mouse mode: ${describeError(err)}`, 'error');
        if (app.hid) renderHid(app.hid);
      }
    });
  }
  $('jiggler').addEventListener('change', async () => {
    const on = $('jiggler').checked;
    try {
      renderHid(await apiPost('/api/hid/jiggler', { interval: on ? JIGGLER_INTERVAL_S : 0 }));
    } catch (err) {
      toast(`Could not change the jiggler: ${describeError(err)}`, 'error');
      if (app.hid) renderHid(app.hid);
    }
  });
}

function initVideoMenu() {
  const params = async (body) => {
    try {
      renderStreamer(await apiPost('/api/streamer/params', body));
    } catch (err) {
      toast(`Could not change the video settings: ${describeError(err)}`, 'error');
    }
  };
  $('video-quality').addEventListener('change', () => params({ quality: Number($('video-quality').value) }));
  $('video-bitrate').addEventListener('change', () => params({ h264_bitrate: Number($('video-bitrate').value) }));
  const codec = $('video-codec');
  codec.addEventListener('change', () => {
    app.video.setCodec(codec.value);
    try {
      window.localStorage.setItem('ipkvm.codec', codec.value);
    } catch {
      /* private mode: the choice lasts for this page only */
    }
    if (app.streamer) renderStreamer(app.streamer);
  });
  $('video-fps').addEventListener('change', () => params({ max_fps: Number($('video-fps').value) }));
  $('btn-snapshot').addEventListener('click', (ev) => {
    if (!has('video')) {
      ev.preventDefault();
      return;
    }
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
    $('btn-snapshot').download = `${(app.info && app.info.hostname) || 'ipkvm'}-${stamp}.jpg`;
  });
  $('btn-fullscreen').addEventListener('click', toggleFullscreen);
  document.addEventListener('fullscreenchange', () => {
    const full = Boolean(document.fullscreenElement);
    setText($('btn-fullscreen'), full ? 'Leave fullscreen' : 'Fullscreen');
    if (!full && navigator.keyboard && navigator.keyboard.unlock) navigator.keyboard.unlock();
  });
}

async function toggleFullscreen() {
  if (document.fullscreenElement) {
    await document.exitFullscreen().catch(() => {});
    return;
  }
  // The workspace, not just the picture: the on-screen keyboard and messages stay usable.
  const stage = $('workspace');
  try {
    await stage.requestFullscreen({ navigationUI: 'hide' });
  } catch {
    toast('The browser did not allow fullscreen.', 'error');
    return;
  }
  // In fullscreen, the Keyboard Lock API lets Esc, Meta and Alt+Tab reach the page (and
  // so the target). Browsers without it simply keep those keys.
  if (navigator.keyboard && navigator.keyboard.lock) {
    navigator.keyboard.lock().catch(() => {});
  }
  $('screen').focus({ preventScroll: true });
}

/* ---- help -------------------------------------------------------------------------------- */

function initHelp() {
  const dialog = $('help-dialog');
  wireCloseButtons(dialog);
  $('btn-help').addEventListener('click', () => dialog.showModal());
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== '?' || ev.defaultPrevented) return;
    const t = ev.target;
    if (t === $('screen') || (t && t.closest && t.closest('input, textarea, select, dialog'))) return;
    ev.preventDefault();
    closeMenus();
    dialog.showModal();
  });
}

/* H.264 where the device offers it and this browser decodes it (WebCodecs, secure context),
 * as the user last chose; MJPEG otherwise. */
async function setupCodec(deviceHas) {
  const codec = $('video-codec');
  const h264 = codec.querySelector('option[value="h264"]');
  const ok = deviceHas && (await H264Player.supported());
  h264.disabled = !ok;
  h264.textContent = ok ? 'H.264 (WebCodecs)' : `H.264 (${deviceHas ? 'not supported by this browser' : 'off on this device'})`;
  let want = 'mjpeg';
  try {
    want = window.localStorage.getItem('ipkvm.codec') || 'mjpeg';
  } catch {
    want = 'mjpeg';
  }
  codec.value = ok && want === 'h264' ? 'h264' : 'mjpeg';
  app.video.setCodec(codec.value);
}

/* ---- start ------------------------------------------------------------------------------ */

function init() {
  app.video = new VideoView({
    canvas: $('screen-video'),
    placeholder: $('screen-placeholder'),
    wait: $('screen-wait'),
    clockOffset: () => (app.clock ? app.clock.offset : null),
    onLatency: (ms) => {
      app.videoLatency = ms;
      app.videoLatencyAt = performance.now();
      renderLatency();
    },
  });
  app.video.onStats = (stats) => {
    app.h264Stats = stats;
  };
  app.power = new PowerMenu({ canControl: () => isOperator() && Boolean(app.socket && app.socket.connected) });
  app.msd = new MsdMenu({ canControl: () => isOperator() && Boolean(app.socket && app.socket.connected) });
  initMenus($('menubar'));
  $('btn-logout').addEventListener('click', logout);
  initAccount(app);
  initMouseMenu();
  initVideoMenu();
  initHelp();
  startSocket();
  app.input = new InputCapture({
    screen: $('screen'),
    socket: app.socket,
    geometry: () => app.video.geometry(),
    canControl,
    mouseMode,
    onChange: renderCapture,
    onLockError: (message) => toast(`The browser did not lock the pointer (${message}). Click the screen again.`, 'error', 5000),
  });
  app.keyboard = new KeyboardMenu({ input: app.input, canControl });
  loadInfo();
  // One timer for everything that counts: uptime, the reconnect countdown, picture size.
  window.setInterval(() => {
    renderUptime();
    renderConnection();
    app.video.poll();
  }, 250);
}

init();
