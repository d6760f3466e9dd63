// @ts-check
/*
 * login.js — the sign-in page.
 *
 * Before sign-in the server serves only login.html, this file, i18n.js (which imports
 * nothing), the catalogs (/i18n/*.json), style.css and favicon.svg, so this page imports
 * i18n.js and nothing else (not ui.js: it has its own small map of error codes to texts).
 * It posts the credentials as JSON, asks for the TOTP code only when the server answers
 * `totp_required`, counts down the throttle window the server announces, and on success goes
 * to the `next` path if that is a same-origin path (never a protocol-relative or otherwise
 * foreign URL).
 *
 * The page's language is the last one chosen in this browser, else the browser's own; the
 * selector under the form changes it for this browser (the page reloads in it).
 */

import { initI18n, language, languages, setLanguage, t, tn, translatePage } from './i18n.js';

const LOGIN_URL = '/api/auth/login';
const REQUEST_TIMEOUT_MS = 15000;

/**
 * What the page says for an error code of the API (docs/api.md), beyond the codes it
 * handles itself (bad_credentials, totp_required, throttled). The server's English message
 * follows as a detail.
 * @type {Record<string, string>}
 */
const ERROR_KEYS = {
  bad_request: 'login.error.bad_request',
  bad_json: 'login.error.bad_request',
  bad_origin: 'error.bad_origin',
  unauthorized: 'login.error.unauthorized',
  forbidden: 'login.error.forbidden',
  not_found: 'login.error.not_found',
  method_not_allowed: 'login.error.refused',
  conflict: 'login.error.conflict',
  length_required: 'login.error.refused',
  too_large: 'login.error.refused',
  unsupported_media_type: 'login.error.refused',
  upgrade_required: 'login.error.refused',
  internal: 'error.internal',
};

/**
 * The element with this id, checked to be a `type` (ui.js has the same; this page does not
 * import ui.js).
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
const languageSelect = byId('login-language', HTMLSelectElement);

let busy = false;
let throttledUntil = 0; // Date.now() ms; 0 when not throttled
let throttleTimer = 0;
let totpUser = ''; // the user name the code field was asked for
let ready = false; // the catalogs are loaded and the page translated

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
  submitButton.disabled = !ready || busy || throttledUntil > 0;
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
  errorBox.textContent = tn('login.throttled', left);
}

/** @param {number} seconds */
function startThrottle(seconds) {
  throttledUntil = Date.now() + seconds * 1000;
  showError(tn('login.throttled', seconds), tn('login.throttled_announce', seconds));
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
  liveRegion.textContent = t('login.try_again_now');
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
      liveRegion.textContent = t('login.totp_hint');
      return;
    case 'bad_credentials':
      showError(t('error.bad_credentials'));
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
  const detail = typeof error.message === 'string' ? error.message : '';
  const key = typeof error.code === 'string' ? ERROR_KEYS[error.code] : undefined;
  if (res.status === 429) {
    startThrottle(retryAfterSeconds(res, error));
  } else if (key) {
    showError(detail ? t('error.with_detail', { text: t(key), detail }) : t(key));
  } else if (res.status >= 400 && res.status < 500 && detail) {
    showError(t('login.error.unknown', { detail }));
  } else {
    showError(t('login.error.http', { status: res.status }));
  }
}

/** @param {SubmitEvent} event */
async function onSubmit(event) {
  event.preventDefault();
  if (!ready || busy || throttledUntil > 0) return;
  clearError();

  const user = userInput.value.trim();
  const password = passwordInput.value;
  if (!user) {
    userInput.setAttribute('aria-invalid', 'true');
    showError(t('login.need_user'));
    userInput.focus();
    return;
  }
  if (!password) {
    passwordInput.setAttribute('aria-invalid', 'true');
    showError(t('login.need_password'));
    passwordInput.focus();
    return;
  }
  /** @type {{user: string, password: string, totp?: string}} */
  const body = { user, password };
  if (!totpField.hidden) {
    const code = totpInput.value.replace(/\s+/g, '');
    if (!/^\d{6,10}$/.test(code)) {
      totpInput.setAttribute('aria-invalid', 'true');
      showError(t('login.need_totp'));
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
  } catch (err) {
    busy = false;
    updateSubmit();
    const timedOut = err instanceof DOMException && err.name === 'AbortError';
    showError(t(timedOut ? 'error.timeout' : 'login.error.network'));
    return;
  }
  busy = false;

  const { res, payload } = result;
  if (res.ok && payload && payload.ok === true) {
    liveRegion.textContent = t('login.signed_in');
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

/* ---- language --------------------------------------------------------------------------- */

/* The languages by their own names; a choice is kept in this browser and the page reloads
 * in it (what was typed is lost, as with any reload: the page is only three fields). */
function fillLanguages() {
  const options = languages().map(({ code, name }) => new Option(name, code, false, code === language()));
  languageSelect.replaceChildren(...options);
  languageSelect.value = language();
  languageSelect.disabled = options.length < 2;
  languageSelect.addEventListener('change', () => {
    if (languageSelect.value && languageSelect.value !== language()) setLanguage(languageSelect.value);
  });
}

async function start() {
  updateSubmit();
  await initI18n(null);
  translatePage();
  fillLanguages();
  ready = true;
  updateSubmit();
}

start().catch((err) => {
  // Without its catalogs the page can say nothing in any language; sign-in stays disabled.
  console.error('sign-in page: the language catalogs could not be loaded', err);
});
