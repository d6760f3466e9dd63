// @ts-check
/*
 * login.js — the sign-in page.
 *
 * Self-contained on purpose: before sign-in the server serves only login.html, this file,
 * style.css and favicon.svg, so it must not import anything. It posts the credentials as
 * JSON, asks for the TOTP code only when the server answers `totp_required`, counts down
 * the throttle window the server announces, and on success goes to the `next` path if that
 * is a same-origin path (never a protocol-relative or otherwise foreign URL).
 */

const LOGIN_URL = '/api/auth/login';
const REQUEST_TIMEOUT_MS = 15000;

/**
 * The element with this id, checked to be a `type` (ui.js has the same; this page imports
 * nothing).
 * @template {HTMLElement} T
 * @param {string} id
 * @param {{new (): T, prototype: T}} type
 * @returns {T}
 */
function byId(id, type) {
  const node = document.getElementById(id);
  if (!(node instanceof type)) throw new Error(`the page has no ${type.name} #${id}`);
  return node;
}

const form = byId('login-form', HTMLFormElement);
const userInput = byId('user', HTMLInputElement);
const passwordInput = byId('password', HTMLInputElement);
const totpField = byId('totp-field', HTMLElement);
const totpInput = byId('totp', HTMLInputElement);
const submitButton = byId('login-submit', HTMLButtonElement);
const errorBox = byId('login-error', HTMLElement);
const liveRegion = byId('login-live', HTMLElement);
const capsHint = byId('caps-hint', HTMLElement);

let busy = false;
let throttledUntil = 0; // Date.now() ms; 0 when not throttled
let throttleTimer = 0;
let totpUser = ''; // the user name the code field was asked for

/* ---- helpers ---------------------------------------------------------------------------- */

/*
 * Where to go after sign-in. Only a path on this origin: it must start with one "/", and
 * after the browser's own URL parsing (which turns "\" into "/" and drops tabs and
 * newlines) it must still resolve to this origin and not start with "//".
 */
function nextTarget() {
  const raw = new URLSearchParams(window.location.search).get('next');
  if (!raw || raw[0] !== '/' || raw.startsWith('//') || /[\\\u0000-\u001f\u007f]/.test(raw)) {
    return '/';
  }
  let url;
  try {
    url = new URL(raw, window.location.origin);
  } catch {
    return '/';
  }
  if (url.origin !== window.location.origin || url.pathname.startsWith('//')) return '/';
  if (url.pathname === '/login') return '/';
  return url.pathname + url.search + url.hash;
}

/* The visible message and a one-shot announcement for screen readers are kept apart so
 * the live countdown does not make a screen reader read every second. */
/**
 * @param {string} text
 * @param {string} [announce]
 */
function showError(text, announce = text) {
  errorBox.textContent = text;
  errorBox.hidden = false;
  liveRegion.textContent = announce;
}

function clearError() {
  errorBox.hidden = true;
  errorBox.textContent = '';
  liveRegion.textContent = '';
  userInput.removeAttribute('aria-invalid');
  passwordInput.removeAttribute('aria-invalid');
  totpInput.removeAttribute('aria-invalid');
}

function updateSubmit() {
  submitButton.disabled = busy || throttledUntil > 0;
  form.setAttribute('aria-busy', busy ? 'true' : 'false');
}

function showTotp() {
  totpUser = userInput.value.trim();
  totpField.hidden = false;
  totpInput.disabled = false;
  totpInput.required = true;
  totpInput.value = '';
  totpInput.focus();
}

function hideTotp() {
  totpField.hidden = true;
  totpInput.disabled = true;
  totpInput.required = false;
  totpInput.value = '';
}

/* Retry-After is seconds (or, rarely, an HTTP date); the error body's retry_after wins. */
/**
 * @param {Response} res
 * @param {{retry_after?: number} | null} error
 */
function retryAfterSeconds(res, error) {
  const fromBody = Number(error && error.retry_after);
  if (Number.isFinite(fromBody) && fromBody > 0) return Math.ceil(fromBody);
  const header = res.headers.get('Retry-After');
  if (header) {
    const secs = Number(header);
    if (Number.isFinite(secs) && secs > 0) return Math.ceil(secs);
    const date = Date.parse(header);
    if (Number.isFinite(date)) return Math.max(1, Math.ceil((date - Date.now()) / 1000));
  }
  return 1;
}

/* ---- throttling countdown --------------------------------------------------------------- */

function renderThrottle() {
  const left = Math.ceil((throttledUntil - Date.now()) / 1000);
  if (left <= 0) {
    endThrottle();
    return;
  }
  errorBox.textContent = `Too many failed attempts. Try again in ${left}\u00a0s.`;
}

/** @param {number} seconds */
function startThrottle(seconds) {
  throttledUntil = Date.now() + seconds * 1000;
  showError(
    `Too many failed attempts. Try again in ${seconds}\u00a0s.`,
    `Too many failed attempts. Try again in ${seconds} seconds.`,
  );
  window.clearInterval(throttleTimer);
  // A short period keeps the displayed number in step with the wall clock.
  throttleTimer = window.setInterval(renderThrottle, 250);
  updateSubmit();
}

function endThrottle() {
  window.clearInterval(throttleTimer);
  throttleTimer = 0;
  throttledUntil = 0;
  errorBox.hidden = true;
  errorBox.textContent = '';
  liveRegion.textContent = 'You can try again now.';
  updateSubmit();
}

/* ---- submit ----------------------------------------------------------------------------- */

/**
 * @param {{user: string, password: string, totp?: string}} body
 * @returns {Promise<{res: Response, payload: any}>}
 */
async function postLogin(body) {
  const controller = new AbortController();
  const timer = window.setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  try {
    const res = await fetch(LOGIN_URL, {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    let payload = null;
    try {
      payload = await res.json();
    } catch {
      payload = null; // not JSON (a proxy page, an empty body): handled by status below
    }
    return { res, payload };
  } finally {
    window.clearTimeout(timer);
  }
}

/**
 * @param {Response} res
 * @param {any} payload the answer's JSON, if any
 */
function handleFailure(res, payload) {
  const error = (payload && payload.error) || {};
  switch (error.code) {
    case 'totp_required':
      showTotp();
      liveRegion.textContent = 'Enter the code from your authenticator app.';
      return;
    case 'bad_credentials':
      showError('Wrong user name, password or code.');
      if (!totpField.hidden) {
        totpInput.value = '';
        totpInput.setAttribute('aria-invalid', 'true');
        totpInput.focus();
      } else {
        passwordInput.setAttribute('aria-invalid', 'true');
        passwordInput.select();
        passwordInput.focus();
      }
      return;
    case 'throttled':
      startThrottle(retryAfterSeconds(res, error));
      return;
    default:
      break;
  }
  if (res.status === 429) {
    startThrottle(retryAfterSeconds(res, error));
  } else if (res.status >= 400 && res.status < 500 && error.message) {
    showError(`The device refused the sign-in: ${error.message}`);
  } else {
    showError(`The device could not complete the sign-in (HTTP ${res.status}). Try again.`);
  }
}

/** @param {SubmitEvent} event */
async function onSubmit(event) {
  event.preventDefault();
  if (busy || throttledUntil > 0) return;
  clearError();

  const user = userInput.value.trim();
  const password = passwordInput.value;
  if (!user) {
    userInput.setAttribute('aria-invalid', 'true');
    showError('Enter your user name.');
    userInput.focus();
    return;
  }
  if (!password) {
    passwordInput.setAttribute('aria-invalid', 'true');
    showError('Enter your password.');
    passwordInput.focus();
    return;
  }
  /** @type {{user: string, password: string, totp?: string}} */
  const body = { user, password };
  if (!totpField.hidden) {
    const code = totpInput.value.replace(/\s+/g, '');
    if (!/^\d{6,10}$/.test(code)) {
      totpInput.setAttribute('aria-invalid', 'true');
      showError('Enter the code from your authenticator app (digits only).');
      totpInput.focus();
      return;
    }
    body.totp = code;
  }

  busy = true;
  updateSubmit();
  let result;
  try {
    result = await postLogin(body);
  } catch {
    busy = false;
    updateSubmit();
    showError(
      'The device could not be reached. Check the network connection and try again.',
    );
    return;
  }
  busy = false;

  const { res, payload } = result;
  if (res.ok && payload && payload.ok === true) {
    liveRegion.textContent = 'Signed in.';
    // Keep the button disabled while the next page loads.
    busy = true;
    updateSubmit();
    window.location.replace(nextTarget());
    return;
  }
  updateSubmit();
  handleFailure(res, payload);
}

/* ---- wiring ----------------------------------------------------------------------------- */

/** @param {KeyboardEvent} event */
function onKeyForCaps(event) {
  if (typeof event.getModifierState !== 'function') return;
  const on = event.getModifierState('CapsLock');
  capsHint.hidden = !on;
  // Only describe the field by the hint while it is shown.
  if (on) passwordInput.setAttribute('aria-describedby', 'caps-hint');
  else passwordInput.removeAttribute('aria-describedby');
}

form.addEventListener('submit', onSubmit);
passwordInput.addEventListener('keydown', onKeyForCaps);
passwordInput.addEventListener('keyup', onKeyForCaps);
passwordInput.addEventListener('blur', () => {
  capsHint.hidden = true;
  passwordInput.removeAttribute('aria-describedby');
});

// TOTP is per user: a different user name may not need (or accept) a code.
userInput.addEventListener('input', () => {
  if (!totpField.hidden && userInput.value.trim() !== totpUser) hideTotp();
});

for (const input of [userInput, passwordInput, totpInput]) {
  input.addEventListener('input', () => input.removeAttribute('aria-invalid'));
}

updateSubmit();
