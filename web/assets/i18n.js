// @ts-check
/*
 * i18n.js — the console's words in the user's language.
 *
 * Every text people read comes from a catalog, web/i18n/<lang>.json: an object of namespaces
 * whose leaves are texts ("power": {"on": "Power on"}), addressed as "power.on". A text may
 * hold parameters, "{name}", filled from t()'s params, and may be a plural: an object keyed by
 * the Intl.PluralRules categories of the language ({"one": "{count} file", "other": "{count}
 * files"}), picked by the `count` parameter. web/i18n/languages.json lists the languages the
 * console offers, by code, each with its own name for itself.
 *
 * The language is, in order: the one this user chose (kept by the device, given to
 * initI18n()), the last one chosen in this browser (for the sign-in page, before the device
 * knows who is there), the first of the browser's languages the console has, English.
 * English is also the fallback of a text a catalog lacks (make check refuses such a catalog).
 *
 * Nothing here runs before initI18n() has resolved: modules call t() when they build or
 * update the page, never at their top level. This module imports nothing, as the sign-in page
 * loads it too.
 */

/** @typedef {string | Record<string, string>} Text a text or its plural forms */
/** @typedef {Record<string, string | number>} Params */

const STORAGE_KEY = 'ipkvm.language'; /* the language chosen in this browser */
const SHOWN_KEY = 'ipkvm.language.shown'; /* the one last shown, whatever chose it */
const FALLBACK = 'en';
/** The attributes translatePage() fills: data-i18n-<attribute>="key". */
const ATTRIBUTES = ['title', 'aria-label', 'aria-roledescription', 'placeholder', 'alt'];

let current = '';
/** @type {Map<string, Text>} */
let texts = new Map();
/** @type {Map<string, Text>} */
let fallback = new Map();
/** @type {Record<string, string>} code -> the language's own name */
let offered = {};
/** @type {Intl.PluralRules | null} */
let plurals = null;

/**
 * The leaves of a catalog as "namespace.key" -> text.
 * @param {unknown} node
 * @param {string} prefix
 * @param {Map<string, Text>} out
 */
function flatten(node, prefix, out) {
  if (!node || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (typeof value === 'string') out.set(path, value);
    else if (value && typeof value === 'object' && 'other' in value && typeof value.other === 'string')
      out.set(path, /** @type {Record<string, string>} */ (value));
    else flatten(value, path, out);
  }
}

/** @type {Map<string, Promise<unknown>>} url -> its JSON, each file asked for once */
const requests = new Map();

/**
 * @param {string} url
 * @returns {Promise<unknown>}
 */
function fetchJson(url) {
  let request = requests.get(url);
  if (!request) {
    request = fetch(url, { credentials: 'same-origin', cache: 'no-cache' })
      .then((res) => {
        if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
        return res.json();
      })
      .catch((err) => {
        requests.delete(url); /* the next ask tries again */
        throw err;
      });
    requests.set(url, request);
  }
  return request;
}

// The files the page will need are asked for as this module loads, while the page asks the
// device who is there: languages.json, English, and the language this browser showed last
// time (most often the one it shows again). A failure is reported by initI18n, which awaits
// the same promises; a guess that turns out wrong costs nothing but its request.
for (const code of new Set([FALLBACK, readStored(SHOWN_KEY) || FALLBACK])) {
  if (/^[a-z]{2,3}(-[a-z0-9]{1,8})*$/.test(code)) fetchJson(`/i18n/${code}.json`).catch(() => {});
}
fetchJson('/i18n/languages.json').catch(() => {});

/** @param {string} code */
async function loadCatalog(code) {
  /** @type {Map<string, Text>} */
  const out = new Map();
  flatten(await fetchJson(`/i18n/${code}.json`), '', out);
  return out;
}

/**
 * The first of `wanted` (language tags, best first) the console offers: the tag itself, or
 * its primary language (ja-JP -> ja).
 * @param {readonly string[]} wanted
 * @returns {string | null}
 */
export function pickLanguage(wanted) {
  for (const tag of wanted) {
    if (!tag) continue;
    const lower = tag.toLowerCase();
    if (lower in offered) return lower;
    const primary = lower.split('-')[0];
    if (primary in offered) return primary;
  }
  return null;
}

/** The browser's languages, best first. */
export function browserLanguages() {
  const list = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  return list.filter(Boolean);
}

/**
 * @param {string} key
 * @returns {string | null} what this browser keeps under key
 */
function readStored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

/**
 * @param {string} key
 * @param {string} value
 */
function writeStored(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    /* private mode: the device still remembers the user's choice */
  }
}

/**
 * Loads the catalogs. `chosen` is the user's own choice as the device keeps it (null when
 * unknown or none). A language whose catalog cannot be read gives way to English; when not
 * even that can be read (the network blinked), it tries again, 1 s later, then 2, 4, up to
 * every 10 s, while the page shows the English its HTML holds.
 * @param {string | null} [chosen]
 */
export async function initI18n(chosen = null) {
  for (let delay = 1000; ; delay = Math.min(delay * 2, 10000)) {
    try {
      await load(chosen);
      return;
    } catch (err) {
      console.error(`i18n: ${err instanceof Error ? err.message : err}; trying again in ${delay / 1000} s`);
      await new Promise((resolve) => window.setTimeout(resolve, delay));
    }
  }
}

/** @param {string | null} chosen */
async function load(chosen) {
  const list = await fetchJson('/i18n/languages.json');
  offered = list && typeof list === 'object' ? /** @type {Record<string, string>} */ (list) : {};
  const stored = readStored(STORAGE_KEY);
  let code =
    pickLanguage([chosen || '']) || pickLanguage([stored || '']) || pickLanguage(browserLanguages()) || FALLBACK;
  // Both at once: English is the fallback of every text.
  const basePromise = loadCatalog(FALLBACK);
  const mainPromise = code === FALLBACK ? basePromise : loadCatalog(code);
  mainPromise.catch(() => {}); /* awaited below, after English */
  const base = await basePromise;
  let main = base;
  try {
    main = await mainPromise;
  } catch (err) {
    console.error(`i18n: ${err instanceof Error ? err.message : err}; the page stays in ${FALLBACK}`);
    code = FALLBACK;
  }
  texts = main;
  fallback = base;
  current = code;
  plurals = new Intl.PluralRules(code);
  document.documentElement.lang = code;
  writeStored(SHOWN_KEY, code);
  if (chosen && code === chosen.toLowerCase()) writeStored(STORAGE_KEY, code);
}

/** The current language's code ('en', 'ja'). */
export function language() {
  return current;
}

/** @returns {Array<{code: string, name: string}>} the languages offered, in the list's order */
export function languages() {
  return Object.entries(offered).map(([code, name]) => ({ code, name }));
}

/**
 * Keeps `code` as this browser's language (the caller tells the device for the user) and
 * reloads the page in it: every part of the page is then built in the new language.
 * @param {string} code
 */
export function setLanguage(code) {
  writeStored(STORAGE_KEY, code);
  window.location.reload();
}

/**
 * @param {string} text
 * @param {Params} params
 */
function fill(text, params) {
  return text.replace(/\{([a-z_][a-z0-9_]*)\}/gi, (all, name) =>
    Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : all);
}

/**
 * The text of `key` in the current language, its parameters filled. A plural text picks its
 * form by params.count.
 * @param {string} key
 * @param {Params} [params]
 * @returns {string}
 */
export function t(key, params = {}) {
  if (!current) throw new Error(`t('${key}') before initI18n()`);
  let text = texts.get(key) ?? fallback.get(key);
  if (text === undefined) {
    console.error(`i18n: no text for ${key}`);
    return key;
  }
  if (typeof text !== 'string') {
    const count = Number(params.count ?? 0);
    const form = plurals ? plurals.select(count) : 'other';
    text = text[form] ?? text.other;
    params = { ...params, count: formatNumber(count) };
  }
  return fill(text, params);
}

/**
 * Whether the catalogs have a text for `key` (for a text that exists only for some cases,
 * such as advice for one kind of hardware).
 * @param {string} key
 */
export function hasText(key) {
  return texts.has(key) || fallback.has(key);
}

/**
 * The plural text of `key` for `count`.
 * @param {string} key
 * @param {number} count
 * @param {Params} [params]
 */
export function tn(key, count, params = {}) {
  return t(key, { ...params, count });
}

/**
 * Fills the texts of the page (or of `root`) from their data-i18n attributes:
 * data-i18n="key" sets the text, data-i18n-title="key" the title, and so on for aria-label,
 * aria-roledescription, placeholder and alt. An element with data-i18n holds text only.
 * @param {ParentNode} [root]
 */
export function translatePage(root = document) {
  for (const node of root.querySelectorAll('[data-i18n]')) {
    node.textContent = t(/** @type {string} */ (node.getAttribute('data-i18n')));
  }
  for (const attr of ATTRIBUTES) {
    for (const node of root.querySelectorAll(`[data-i18n-${attr}]`)) {
      node.setAttribute(attr, t(/** @type {string} */ (node.getAttribute(`data-i18n-${attr}`))));
    }
  }
}

/**
 * @param {number} n
 * @param {Intl.NumberFormatOptions} [opts]
 */
export function formatNumber(n, opts) {
  return new Intl.NumberFormat(current || FALLBACK, opts).format(n);
}

const BYTE_UNITS = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'];

/**
 * A size for people: 1.5 GB, 1.5 GB in Japanese too (decimal units, as disks are sold).
 * @param {number} n bytes
 */
export function formatBytes(n) {
  let v = Math.max(0, Number(n) || 0);
  let i = 0;
  while (v >= 1000 && i < BYTE_UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return formatNumber(v, {
    style: 'unit',
    unit: BYTE_UNITS[i],
    unitDisplay: 'short',
    maximumFractionDigits: v >= 100 || i === 0 ? 0 : 1,
  });
}

/**
 * A bandwidth for people, in bits per second (kbit/s, Mbit/s).
 * @param {number | null | undefined} bytesPerSecond
 */
export function formatRate(bytesPerSecond) {
  const bits = Math.max(0, (Number(bytesPerSecond) || 0) * 8);
  const [unit, div] = bits >= 1e6 ? ['megabit-per-second', 1e6] : ['kilobit-per-second', 1e3];
  const v = bits / div;
  return formatNumber(v, {
    style: 'unit',
    unit,
    unitDisplay: 'short',
    maximumFractionDigits: v >= 100 ? 0 : 1,
  });
}

/**
 * A duration for people, to the two largest units that matter: "3 days, 4 hr", "5 min, 2 sec"
 * ("3日4時間" in Japanese).
 * @param {number} seconds
 */
export function formatDuration(seconds) {
  let s = Math.max(0, Math.floor(Number(seconds) || 0));
  const parts = /** @type {Array<[string, number]>} */ ([
    ['days', Math.floor(s / 86400)],
    ['hours', Math.floor((s % 86400) / 3600)],
    ['minutes', Math.floor((s % 3600) / 60)],
    ['seconds', s % 60],
  ]);
  const first = parts.findIndex(([, v]) => v > 0);
  const shown = first < 0 ? [parts[3]] : parts.slice(first, first + 2).filter(([, v]) => v > 0);
  /** @type {any} */
  const Duration = /** @type {any} */ (Intl).DurationFormat;
  if (typeof Duration === 'function') {
    return new Duration(current || FALLBACK, { style: 'short' }).format(Object.fromEntries(shown));
  }
  const unitOf = { days: 'day', hours: 'hour', minutes: 'minute', seconds: 'second' };
  return shown
    .map(([name, v]) =>
      formatNumber(v, { style: 'unit', unit: unitOf[/** @type {keyof typeof unitOf} */ (name)], unitDisplay: 'short' }))
    .join(' ');
}

/**
 * A date and time for people, in the browser's time zone.
 * @param {Date | number} when a Date or ms since the epoch
 */
export function formatDate(when) {
  return new Intl.DateTimeFormat(current || FALLBACK, { dateStyle: 'medium', timeStyle: 'short' }).format(
    when instanceof Date ? when : new Date(when));
}

/**
 * "5 minutes ago", "in 2 hours" ("5 分前").
 * @param {number} seconds negative for the past
 */
export function formatRelative(seconds) {
  const rtf = new Intl.RelativeTimeFormat(current || FALLBACK, { numeric: 'auto' });
  const abs = Math.abs(seconds);
  if (abs < 60) return rtf.format(Math.round(seconds), 'second');
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), 'hour');
  return rtf.format(Math.round(seconds / 86400), 'day');
}
