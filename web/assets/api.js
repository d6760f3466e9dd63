// @ts-check
/*
 * api.js — the console's client for the ipkvmd HTTP API and its event socket.
 *
 * apiGet/apiPost/apiDelete speak the JSON envelope ({ok, result} / {ok:false, error}) and
 * hand back `result` or throw an ApiError carrying the server's code, status and message.
 * A 401 `unauthorized` (session gone) sends the browser to the sign-in page and the promise
 * never settles, so callers do not flash an error while the page goes away. Other 401 codes
 * (`bad_credentials` from a wrong old password) are ordinary errors for the caller.
 *
 * EventSocket keeps one WebSocket to /api/ws open: it reconnects with exponential back-off,
 * pings every 10 s to measure round-trip time and the server's clock offset, notices a
 * dead connection that TCP has not reported yet, and tells listeners its state. It does not
 * reconnect after the server closed it with 4001 (the session ended): its state becomes
 * `ended` and the page decides. sendBinary() carries the keyboard and mouse input protocol.
 */

const JSON_TYPE = 'application/json';
const REQUEST_TIMEOUT_MS = 20000;

let redirecting = false;

export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {{code?: string, status?: number, retryAfter?: number}} [details] the server's
   *   error code, the HTTP status, and seconds to wait (throttled)
   */
  constructor(message, { code = 'internal', status = 0, retryAfter = 0 } = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/* The sign-in page, asking it to bring the user back to where they are now. */
export function loginUrl() {
  const here = window.location.pathname + window.location.search + window.location.hash;
  return '/login?next=' + encodeURIComponent(here);
}

/* Go to the sign-in page once, however many requests notice the session is gone. */
export function redirectToLogin() {
  if (redirecting) return;
  redirecting = true;
  window.location.assign(loginUrl());
}

/**
 * @param {Response} res
 * @param {{retry_after?: number} | null} error
 */
function retryAfterOf(res, error) {
  const fromBody = Number(error && error.retry_after);
  if (Number.isFinite(fromBody) && fromBody > 0) return Math.ceil(fromBody);
  const fromHeader = Number(res.headers.get('Retry-After'));
  if (Number.isFinite(fromHeader) && fromHeader > 0) return Math.ceil(fromHeader);
  return 0;
}

/**
 * One API call. `body` (any JSON value) is sent for POST/PUT; POST without a body sends
 * `{}` so the server always sees application/json. Resolves to the envelope's `result`
 * (typed `any`: its shape is the endpoint's, docs/api.md; callers say what they read).
 * @param {'GET' | 'POST' | 'PUT' | 'DELETE'} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function apiRequest(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { Accept: JSON_TYPE };
  /** @type {RequestInit} */
  const init = {
    method,
    credentials: 'same-origin',
    cache: 'no-store',
    headers,
  };
  if (body !== undefined || method === 'POST' || method === 'PUT') {
    headers['Content-Type'] = JSON_TYPE;
    init.body = JSON.stringify(body === undefined ? {} : body);
  }
  if (typeof AbortSignal !== 'undefined' && typeof AbortSignal.timeout === 'function') {
    init.signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  }

  let res;
  let text;
  try {
    res = await fetch(path, init);
    text = await res.text();
  } catch (err) {
    if (err instanceof Error && err.name === 'TimeoutError') {
      throw new ApiError('The device did not answer in time.', { code: 'timeout' });
    }
    throw new ApiError('The device could not be reached.', { code: 'network' });
  }

  let payload = null;
  try {
    payload = text ? JSON.parse(text) : null;
  } catch {
    payload = null;
  }
  const error = payload && typeof payload === 'object' ? payload.error : null;

  if (res.status === 401 && (!error || !error.code || error.code === 'unauthorized')) {
    redirectToLogin();
    return new Promise(() => {});
  }
  if (res.ok && payload && payload.ok === true) {
    return payload.result === undefined ? {} : payload.result;
  }
  if (error && typeof error === 'object') {
    throw new ApiError(error.message || error.code || `HTTP ${res.status}`, {
      code: error.code || 'internal',
      status: res.status,
      retryAfter: retryAfterOf(res, error),
    });
  }
  throw new ApiError(`Unexpected answer from the device (HTTP ${res.status}).`, {
    code: res.ok ? 'bad_response' : 'http_error',
    status: res.status,
    retryAfter: retryAfterOf(res, null),
  });
}

/**
 * @param {string} path
 * @returns {Promise<any>}
 */
export function apiGet(path) {
  return apiRequest('GET', path);
}

/**
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export function apiPost(path, body) {
  return apiRequest('POST', path, body);
}

/**
 * @param {string} path
 * @returns {Promise<any>}
 */
export function apiDelete(path) {
  return apiRequest('DELETE', path);
}

/* ---- event socket ----------------------------------------------------------------------- */

const MAX_CLOCK_SAMPLES = 8;
// Close code of the server when the session ended (logout, expiry, password change).
const SESSION_ENDED = 4001;
// A connection that stayed up this long counts as healthy: back-off starts over.
const STABLE_MS = 10000;
// How often the link is checked, and the slack that keeps pings on their interval.
const CHECK_MS = 2500;
const CHECK_SLACK_MS = 100;

function defaultSocketUrl() {
  const scheme = window.location.protocol === 'http:' ? 'ws:' : 'wss:';
  return `${scheme}//${window.location.host}/api/ws`;
}

/**
 * A throwing listener must not break the socket or the other listeners.
 * @template A
 * @param {(arg: A) => void} fn
 * @param {A} arg
 */
function callSafely(fn, arg) {
  try {
    fn(arg);
  } catch (err) {
    if (typeof window.reportError === 'function') window.reportError(err);
    else window.setTimeout(() => { throw err; });
  }
}

/**
 * States reported to onState listeners (one object, a fresh copy each time):
 *   { state: 'idle' }                                    not started
 *   { state: 'connecting', attempt }                     attempt 0 is the first connect
 *   { state: 'connected', since }                        since: performance.now() ms
 *   { state: 'reconnecting', attempt, delay, retryAt }   retryAt: performance.now() ms
 *   { state: 'stopped' }                                 stop() was called
 *   { state: 'ended' }                                   the server ended the session (4001)
 * Clock listeners get { rtt, offset } in ms; offset = server clock − local clock, taken
 * from the sample with the lowest round-trip time of the last few pings.
 */

/**
 * @typedef {{state: 'idle' | 'stopped' | 'ended'}
 *   | {state: 'connecting', attempt: number}
 *   | {state: 'connected', since: number}
 *   | {state: 'reconnecting', attempt: number, delay: number, retryAt: number}} SocketState
 */
/** @typedef {{rtt: number, offset: number}} SocketClock */
/**
 * One event from the device: its name and its data (the event's own shape, docs/api.md).
 * @typedef {{event: string, data: any}} SocketMessage
 */
export class EventSocket {
  #url;
  #pingInterval;
  #minDelay;
  #maxDelay;
  /** @type {WebSocket | null} */
  #ws = null;
  #running = false;
  #attempt = 0;
  #retryTimer = 0;
  #pingTimer = 0;
  #openedAt = 0;
  #lastRx = 0;
  #lastPingAt = 0;
  #seq = 0;
  /** @type {Map<number, {perf: number, wall: number}>} ping seq -> when it was sent */
  #pending = new Map();
  /** @type {SocketClock[]} */
  #samples = [];
  /** @type {Map<string, Set<(msg: SocketMessage) => void>>} event name or '*' -> listeners */
  #listeners = new Map();
  /** @type {Set<(state: SocketState) => void>} */
  #stateListeners = new Set();
  /** @type {Set<(clock: SocketClock) => void>} */
  #clockListeners = new Set();
  /** @type {SocketState} */
  #state = { state: 'idle' };
  /** @type {SocketClock | null} */
  #clock = null;
  #onOnline = () => this.reconnectNow();

  /**
   * @param {{url?: string, pingInterval?: number, minDelay?: number, maxDelay?: number}} [options]
   *   ms; the URL defaults to this page's /api/ws
   */
  constructor({ url, pingInterval = 10000, minDelay = 1000, maxDelay = 30000 } = {}) {
    this.#url = url || defaultSocketUrl();
    this.#pingInterval = pingInterval;
    this.#minDelay = minDelay;
    this.#maxDelay = maxDelay;
  }

  /** @returns {SocketState} */
  get state() {
    return { ...this.#state };
  }

  /** @returns {SocketClock | null} */
  get clock() {
    return this.#clock ? { ...this.#clock } : null;
  }

  get connected() {
    return this.#state.state === 'connected';
  }

  /* fn({event, data}) for `name`, or for every message when name is '*'. Returns an
   * unsubscribe function. */
  /**
   * @param {string} name
   * @param {(msg: SocketMessage) => void} fn
   */
  on(name, fn) {
    let set = this.#listeners.get(name);
    if (!set) {
      set = new Set();
      this.#listeners.set(name, set);
    }
    set.add(fn);
    return () => set.delete(fn);
  }

  /**
   * fn(state) now and on every change.
   * @param {(state: SocketState) => void} fn
   */
  onState(fn) {
    this.#stateListeners.add(fn);
    callSafely(fn, this.state);
    return () => this.#stateListeners.delete(fn);
  }

  /**
   * fn({rtt, offset}) after each pong.
   * @param {(clock: SocketClock) => void} fn
   */
  onClock(fn) {
    this.#clockListeners.add(fn);
    if (this.#clock) callSafely(fn, { ...this.#clock });
    return () => this.#clockListeners.delete(fn);
  }

  start() {
    if (this.#running) return;
    this.#running = true;
    this.#attempt = 0;
    window.addEventListener('online', this.#onOnline);
    this.#connect();
  }

  stop() {
    if (!this.#running) return;
    this.#running = false;
    window.removeEventListener('online', this.#onOnline);
    window.clearTimeout(this.#retryTimer);
    this.#retryTimer = 0;
    this.#drop();
    this.#setState({ state: 'stopped' });
  }

  /* Skip the rest of a back-off wait (tab shown again, network back, user asked). */
  reconnectNow() {
    if (!this.#running || this.#state.state !== 'reconnecting') return;
    window.clearTimeout(this.#retryTimer);
    this.#retryTimer = 0;
    this.#connect();
  }

  /* Send one binary message (an ArrayBuffer or typed array); false when not connected.
   * Input is never queued: a key pressed while offline must not arrive later. */
  /** @param {BufferSource} bytes */
  sendBinary(bytes) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(bytes);
    return true;
  }

  /**
   * Send one event; false when not connected (nothing is queued).
   * @param {string} event
   * @param {object} [data]
   */
  send(event, data = {}) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify({ event, data }));
    return true;
  }

  /** @param {SocketState} next */
  #setState(next) {
    this.#state = next;
    for (const fn of [...this.#stateListeners]) callSafely(fn, this.state);
  }

  #connect() {
    this.#setState({ state: 'connecting', attempt: this.#attempt });
    let ws;
    try {
      ws = new WebSocket(this.#url);
    } catch {
      this.#scheduleRetry();
      return;
    }
    this.#ws = ws;
    ws.onopen = () => this.#handleOpen(ws);
    ws.onmessage = (ev) => this.#handleMessage(ws, ev);
    ws.onclose = (ev) => this.#handleClose(ws, ev);
    // An error is always followed by close; the close handler does the work.
    ws.onerror = () => {};
  }

  /** @param {WebSocket} ws */
  #handleOpen(ws) {
    if (ws !== this.#ws) return;
    const now = performance.now();
    this.#openedAt = now;
    this.#lastRx = now;
    this.#lastPingAt = 0;
    this.#samples = [];
    this.#pending.clear();
    this.#setState({ state: 'connected', since: now });
    this.#ping();
    // Checked more often than pinged, so a dead link is noticed soon after 1.5 intervals.
    this.#pingTimer = window.setInterval(() => this.#tick(), Math.min(CHECK_MS, this.#pingInterval));
  }

  /**
   * @param {WebSocket} ws
   * @param {MessageEvent} ev
   */
  #handleMessage(ws, ev) {
    if (ws !== this.#ws) return;
    this.#lastRx = performance.now();
    if (typeof ev.data !== 'string') return; // binary frames belong to later features
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (!msg || typeof msg.event !== 'string') return;
    const data = msg.data && typeof msg.data === 'object' ? msg.data : {};
    if (msg.event === 'pong') this.#handlePong(data);
    const message = { event: msg.event, data };
    for (const name of [msg.event, '*']) {
      const set = this.#listeners.get(name);
      if (set) for (const fn of [...set]) callSafely(fn, message);
    }
  }

  /**
   * @param {WebSocket} ws
   * @param {CloseEvent} ev
   */
  #handleClose(ws, ev) {
    if (ws !== this.#ws) return;
    const openedAt = this.#openedAt;
    this.#drop();
    if (ev && ev.code === SESSION_ENDED) {
      // The session is over: a reconnect would only be refused. Listeners go to sign-in.
      this.#running = false;
      window.removeEventListener('online', this.#onOnline);
      this.#setState({ state: 'ended' });
      return;
    }
    if (openedAt && performance.now() - openedAt >= STABLE_MS) this.#attempt = 0;
    if (this.#running) this.#scheduleRetry();
  }

  /* Forget the current socket without waiting for its close handshake. */
  #drop() {
    window.clearInterval(this.#pingTimer);
    this.#pingTimer = 0;
    const ws = this.#ws;
    this.#ws = null;
    this.#openedAt = 0;
    this.#pending.clear();
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) {
        try {
          ws.close();
        } catch {
          /* already closing */
        }
      }
    }
  }

  #scheduleRetry() {
    // 1 s, 2 s, 4 s … capped; ±20 % jitter so many browsers do not return in lockstep.
    const base = Math.min(this.#maxDelay, this.#minDelay * 2 ** Math.min(this.#attempt, 16));
    const delay = Math.min(this.#maxDelay, Math.round(base * (0.8 + Math.random() * 0.4)));
    this.#attempt += 1;
    const retryAt = performance.now() + delay;
    this.#retryTimer = window.setTimeout(() => {
      this.#retryTimer = 0;
      if (this.#running) this.#connect();
    }, delay);
    this.#setState({ state: 'reconnecting', attempt: this.#attempt, delay, retryAt });
  }

  #tick() {
    const now = performance.now();
    // A ping without any answer for 1.5 intervals means the link is dead even if TCP has
    // not noticed. No new ping is sent while one is unanswered, so the clock runs from the
    // first unanswered ping; judged from that ping rather than the last message, so that
    // timer throttling in a background tab (timers once a minute) cannot fake a timeout.
    if (this.#lastPingAt && this.#lastRx < this.#lastPingAt) {
      if (now - this.#lastPingAt > this.#pingInterval * 1.5) {
        this.#drop();
        if (this.#running) this.#scheduleRetry();
      }
      return;
    }
    if (now - this.#lastPingAt >= this.#pingInterval - CHECK_SLACK_MS) this.#ping();
  }

  #ping() {
    const seq = ++this.#seq;
    const perf = performance.now();
    const wall = Date.now();
    if (!this.send('ping', { seq, client_time: wall })) return;
    this.#lastPingAt = perf;
    this.#pending.set(seq, { perf, wall });
    // Keep the map bounded if pongs never come back.
    for (const key of this.#pending.keys()) {
      if (this.#pending.size <= 4) break;
      this.#pending.delete(key);
    }
  }

  /** @param {{seq?: unknown, server_time?: unknown}} data */
  #handlePong(data) {
    const { seq, server_time: serverTime } = data;
    const sent = typeof seq === 'number' ? this.#pending.get(seq) : undefined;
    if (!sent || typeof serverTime !== 'number' || !Number.isFinite(serverTime)) return;
    this.#pending.delete(/** @type {number} */ (seq));
    const rtt = performance.now() - sent.perf;
    // The server read its clock about halfway through the round trip.
    const offset = serverTime - (sent.wall + rtt / 2);
    this.#samples.push({ rtt, offset });
    if (this.#samples.length > MAX_CLOCK_SAMPLES) this.#samples.shift();
    const best = this.#samples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
    this.#clock = { rtt, offset: best.offset };
    for (const fn of [...this.#clockListeners]) callSafely(fn, { ...this.#clock });
  }
}
