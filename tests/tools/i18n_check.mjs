#!/usr/bin/env node
/*
 * i18n_check.mjs — keeps the console's languages complete, run by make check.
 *
 *   node tests/tools/i18n_check.mjs [REPO_DIR]
 *
 * Fails (exit 1, one line per problem) when:
 * - a catalog listed in web/i18n/languages.json is missing, is not JSON, repeats a key, lacks
 *   a key that en.json has or has one en.json lacks, has an empty text, a plural without
 *   "other" or an unknown plural category, or uses other {parameters} than en.json's text;
 * - a key of en.json is used nowhere in web/ (a data-i18n attribute, a t()/tn() call, a
 *   t(`prefix.${x}`) call covering it, or a string literal equal to the key), or a t() call,
 *   data-i18n attribute or key-like literal names a key en.json lacks;
 * - an error code of docs/api.md's "Status and error codes" table has no `error.<code>` text;
 * - web/*.html has text or a title/aria-label/aria-roledescription/placeholder/alt with words
 *   and no data-i18n(-attribute) on its element, an element with data-i18n holds elements, or
 *   the English left in the HTML differs from en.json's text;
 * - web/assets/*.js has a string literal that reads as words for people (see looksLikeText)
 *   outside the catalogs.
 *
 * The JavaScript is parsed with acorn (tests/e2e's lockfile). Names stay as they are in every
 * language (NAMES below) and are not words to translate.
 */

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Words that are names, the same in every language. */
export const NAMES = new Set([
  'ipkvm', 'ipkvmd', 'USB', 'HDMI', 'H', 'MJPEG', 'JPEG', 'TOTP', 'SHA', 'ISO', 'IMG', 'Ctrl', 'Alt',
  'AltGr', 'Del', 'Shift', 'SysRq', 'PrtSc', 'Esc', 'Tab', 'Win', 'Meta', 'Cmd', 'Fn', 'F', 'fps',
  'VNC', 'API', 'URL', 'IP', 'HTTPS', 'LED', 'ATX', 'Raspberry', 'Pi', 'CD', 'ROM', 'DVD',
]);
const PLURAL_FORMS = new Set(['zero', 'one', 'two', 'few', 'many', 'other']);
const I18N_ATTRIBUTES = ['title', 'aria-label', 'aria-roledescription', 'placeholder', 'alt'];
const KEY_LIKE = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/;

/* ---- JSON with duplicate keys refused -------------------------------------------------- */

/**
 * JSON.parse, but a repeated key in an object is an error (JSON.parse keeps the last one
 * silently, which would hide a text lost in a merge).
 * @param {string} src
 */
export function parseJsonStrict(src) {
  let i = 0;
  const ws = () => {
    while (i < src.length && ' \t\r\n'.includes(src[i])) i++;
  };
  const fail = (what) => {
    const line = src.slice(0, i).split('\n').length;
    throw new Error(`${what} at line ${line}`);
  };
  const value = () => {
    ws();
    const c = src[i];
    if (c === '{') {
      i++;
      const obj = {};
      ws();
      if (src[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (src[i] !== '"') fail('expected a key');
        const key = string();
        if (Object.prototype.hasOwnProperty.call(obj, key)) fail(`duplicate key "${key}"`);
        ws();
        if (src[i++] !== ':') fail('expected ":"');
        obj[key] = value();
        ws();
        if (src[i] === ',') {
          i++;
          continue;
        }
        if (src[i] === '}') {
          i++;
          return obj;
        }
        fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const arr = [];
      ws();
      if (src[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value());
        ws();
        if (src[i] === ',') {
          i++;
          continue;
        }
        if (src[i] === ']') {
          i++;
          return arr;
        }
        fail('expected "," or "]"');
      }
    }
    if (c === '"') return string();
    const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(src.slice(i));
    if (!m) fail('unexpected character');
    i += m[0].length;
    return JSON.parse(m[0]);
  };
  const string = () => {
    const m = /^"(?:[^"\\\u0000-\u001f]|\\.)*"/.exec(src.slice(i));
    if (!m) fail('bad string');
    i += m[0].length;
    return JSON.parse(m[0]);
  };
  const v = value();
  ws();
  if (i !== src.length) fail('text after the JSON value');
  return v;
}

/* ---- catalogs ------------------------------------------------------------------------- */

/**
 * The leaves of a catalog, as i18n.js reads them: "ns.key" -> string or plural object.
 * @param {unknown} node
 * @param {string} prefix
 * @param {Map<string, string | Record<string, string>>} out
 * @param {string[]} problems
 * @param {string} where
 */
function flatten(node, prefix, out, problems, where) {
  for (const [key, value] of Object.entries(/** @type {object} */ (node))) {
    const p = prefix ? `${prefix}.${key}` : key;
    if (typeof value === 'string') {
      if (!value.trim()) problems.push(`${where}: ${p} is empty`);
      out.set(p, value);
    } else if (value && typeof value === 'object' && !Array.isArray(value) && 'other' in value &&
      typeof value.other === 'string') {
      for (const [form, text] of Object.entries(value)) {
        if (!PLURAL_FORMS.has(form)) problems.push(`${where}: ${p} has an unknown plural form "${form}"`);
        if (typeof text !== 'string' || !text.trim()) problems.push(`${where}: ${p}.${form} is empty`);
      }
      out.set(p, value);
    } else if (value && typeof value === 'object' && !Array.isArray(value)) {
      const forms = Object.keys(value);
      if (!forms.length) problems.push(`${where}: ${p} is an empty object`);
      else if (forms.every((f) => PLURAL_FORMS.has(f)))
        problems.push(`${where}: ${p} is a plural without "other"`);
      else flatten(value, p, out, problems, where);
    } else {
      problems.push(`${where}: ${p} is not a text`);
    }
  }
}

/** @param {string | Record<string, string>} text */
function paramsOf(text) {
  const all = typeof text === 'string' ? [text] : Object.values(text);
  const names = new Set();
  for (const s of all) for (const m of s.matchAll(/\{([a-z_][a-z0-9_]*)\}/gi)) names.add(m[1]);
  if (typeof text !== 'string') names.add('count');
  return [...names].sort().join(',');
}

/**
 * @param {string} root
 * @param {string[]} problems
 * @returns {Map<string, string | Record<string, string>>} en's texts
 */
function checkCatalogs(root, problems) {
  const dir = path.join(root, 'web/i18n');
  /** @type {Record<string, Map<string, string | Record<string, string>>>} */
  const catalogs = {};
  let list = {};
  try {
    list = parseJsonStrict(fs.readFileSync(path.join(dir, 'languages.json'), 'utf8'));
  } catch (e) {
    problems.push(`web/i18n/languages.json: ${e.message}`);
  }
  if (!('en' in list)) problems.push('web/i18n/languages.json: no "en" (the reference catalog)');
  for (const [code, name] of Object.entries(list)) {
    if (!/^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$/.test(code)) problems.push(`web/i18n/languages.json: bad code "${code}"`);
    if (typeof name !== 'string' || !name.trim()) problems.push(`web/i18n/languages.json: "${code}" has no name`);
  }
  for (const file of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    const code = file.replace(/\.json$/, '');
    if (file.endsWith('.json') && file !== 'languages.json' && !(code in list))
      problems.push(`web/i18n/${file}: not listed in web/i18n/languages.json`);
  }
  for (const code of ['en', ...Object.keys(list).filter((c) => c !== 'en')]) {
    const where = `web/i18n/${code}.json`;
    const map = new Map();
    try {
      const json = parseJsonStrict(fs.readFileSync(path.join(dir, `${code}.json`), 'utf8'));
      if (!json || typeof json !== 'object' || Array.isArray(json)) throw new Error('not an object');
      flatten(json, '', map, problems, where);
    } catch (e) {
      problems.push(`${where}: ${e.message}`);
    }
    catalogs[code] = map;
  }
  const en = catalogs.en || new Map();
  for (const [code, map] of Object.entries(catalogs)) {
    if (code === 'en') continue;
    for (const key of en.keys()) if (!map.has(key)) problems.push(`web/i18n/${code}.json: lacks ${key}`);
    for (const key of map.keys()) if (!en.has(key)) problems.push(`web/i18n/${code}.json: has ${key}, which en.json lacks`);
    for (const [key, text] of map) {
      const want = en.get(key);
      if (want === undefined) continue;
      if (paramsOf(want) !== paramsOf(text))
        problems.push(`web/i18n/${code}.json: ${key} has parameters {${paramsOf(text)}}, en.json {${paramsOf(want)}}`);
    }
  }
  return en;
}

/* ---- text that reads as words --------------------------------------------------------- */

/** The string without names, digits and punctuation: what is left to translate. */
function wordsOf(s) {
  return s
    .split(/[^\p{L}]+/u)
    .filter((w) => w && !NAMES.has(w));
}

/**
 * Whether a string is words for people. In a text position (strong) any word that is not a
 * name is. Elsewhere a string is when it has a letter outside ASCII, or two words or more
 * ("view only", "Video signal: {x}") and is not a list of code names ("btn btn-small").
 * @param {string} s
 * @param {boolean} strong
 */
export function looksLikeText(s, strong) {
  const words = wordsOf(s);
  if (!words.length || [...s.trim()].length === 1) return false; /* a key's legend: Ä, ß */
  if (words.some((w) => /[^\x00-\x7f]/.test(w))) return true;
  if (strong) return words.some((w) => w.length >= 2);
  const tokens = s.split(/\s+/).filter(Boolean);
  const wordy = tokens.filter((tok) => /^[(["']?[A-Za-z][a-z]+[)\]"'.,:;!?\u2026]*$/.test(tok) &&
    !NAMES.has(tok.replace(/[^A-Za-z]/g, '')));
  if (wordy.length < 2) return false;
  const codeNames = !/[A-Z.,:;!?\u2026]/.test(s) && tokens.some((tok) => /[-_#=/]/.test(tok));
  return !codeNames;
}

/* ---- HTML ------------------------------------------------------------------------------ */

const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr']);

/** @param {string} s */
function decodeEntities(s) {
  return s
    .replace(/&nbsp;/g, '\u00a0')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
    .replace(/&amp;/g, '&');
}

const norm = (s) => s.replace(/\s+/g, ' ').trim();

/** @param {string} tag the inside of a start tag */
function attributesOf(tag) {
  /** @type {Record<string, string>} */
  const out = {};
  for (const m of tag.matchAll(/([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g))
    out[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  return out;
}

/**
 * @param {string} file
 * @param {string} src
 * @param {Map<string, string | Record<string, string>>} en
 * @param {Set<string>} used
 * @param {string[]} problems
 */
function checkHtml(file, src, en, used, problems) {
  /** @type {Array<{name: string, attrs: Record<string, string>, children: number, line: number}>} */
  const stack = [];
  const lineAt = (index) => src.slice(0, index).split('\n').length;
  const wantText = (key, shown, line, what) => {
    used.add(key);
    const text = en.get(key);
    if (text === undefined) problems.push(`${file}:${line}: ${what} names ${key}, which en.json lacks`);
    else if (typeof text !== 'string') problems.push(`${file}:${line}: ${key} is a plural; the HTML cannot use it`);
    else if (norm(shown) !== norm(text))
      problems.push(`${file}:${line}: the ${what} says "${norm(shown)}", en.json's ${key} "${norm(text)}"`);
  };
  const re = /<!--[\s\S]*?-->|<![^>]*>|<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>|<\/?([a-zA-Z][\w-]*)([^>]*)>|[^<]+/g;
  for (const m of src.matchAll(re)) {
    const tok = m[0];
    const line = lineAt(m.index);
    if (tok.startsWith('<!') || m[1]) continue;
    if (m[2]) {
      const name = m[2].toLowerCase();
      if (tok.startsWith('</')) {
        while (stack.length && stack[stack.length - 1].name !== name) stack.pop();
        stack.pop();
        continue;
      }
      const attrs = attributesOf(m[3]);
      if (stack.length) {
        const parent = stack[stack.length - 1];
        parent.children++;
        if ('data-i18n' in parent.attrs)
          problems.push(`${file}:${line}: <${parent.name} data-i18n> holds a <${name}> (it would be replaced by text)`);
      }
      for (const attr of I18N_ATTRIBUTES) {
        const key = attrs[`data-i18n-${attr}`];
        if (key !== undefined) wantText(key, attrs[attr] ?? '', line, `${attr} of <${name}>`);
        else if (attr in attrs && looksLikeText(attrs[attr], true))
          problems.push(`${file}:${line}: <${name} ${attr}="${attrs[attr]}"> has words and no data-i18n-${attr}`);
      }
      if ('data-i18n' in attrs) {
        const close = src.indexOf(`</${name}`, m.index + tok.length);
        const inner = close < 0 ? '' : src.slice(m.index + tok.length, close);
        if (!/</.test(inner)) wantText(attrs['data-i18n'], decodeEntities(inner), line, `text of <${name}>`);
      }
      if (!VOID.has(name) && !tok.endsWith('/>')) stack.push({ name, attrs, children: 0, line });
      continue;
    }
    const text = decodeEntities(tok);
    if (!looksLikeText(text, true)) continue;
    const top = stack[stack.length - 1];
    if (!top || !('data-i18n' in top.attrs))
      problems.push(`${file}:${line}: text "${norm(text).slice(0, 60)}" in <${top ? top.name : '?'}> has no data-i18n`);
  }
}

/* ---- JavaScript ----------------------------------------------------------------------- */

/** Calls whose string arguments are not for people. */
const CODE_CALLS = new Set([
  'querySelector', 'querySelectorAll', 'closest', 'matches', 'getElementById', 'addEventListener',
  'removeEventListener', 'getAttribute', 'removeAttribute', 'hasAttribute', 'toggleAttribute', 'add',
  'remove', 'toggle', 'contains', 'fetch', 'apiGet', 'apiPost', 'apiDelete', 'apiPut', 'getItem',
  'setItem', 'removeItem', 'createElement', 'createElementNS', 'dispatchEvent', 'postMessage', 'log',
  'warn', 'error', 'info', 'debug', 'assert', 'require', 'encodeURIComponent', 'replace', 'split',
  'startsWith', 'endsWith', 'includes', 'indexOf', 'join', 'test', 'exec', 'match', 'part', '$', 'byId',
]);
/** Constructors whose messages are for programmers (or, for ApiError, shown only as detail). */
const CODE_NEWS = new Set(['Error', 'TypeError', 'RangeError', 'SyntaxError', 'ApiError', 'URL', 'RegExp', 'Event', 'CustomEvent', 'WebSocket', 'Worker']);
/** Properties whose values are for people. */
const TEXT_PROPS = new Set(['text', 'title', 'label', 'aria-label', 'aria-roledescription', 'placeholder', 'alt',
  'confirmLabel', 'heading', 'hint', 'description', 'tooltip', 'textContent', 'innerText', 'ariaLabel']);
/** Properties whose values are not. */
const CODE_PROPS = new Set(['class', 'className', 'id', 'type', 'role', 'name', 'autocomplete', 'inputmode',
  'rel', 'method', 'credentials', 'cache', 'mode', 'href', 'src', 'accept', 'pattern', 'code', 'key', 'state',
  'kind', 'layout', 'for', 'htmlFor', 'event', 'path', 'url', 'style', 'd', 'viewBox', 'fill', 'stroke']);
/** Functions whose n-th argument is for people (el's children from 2 on). */
const TEXT_ARGS = { setText: [1], showMessage: [1], toast: [0], menuHeading: [0], alert: [0], confirm: [0],
  prompt: [0], createTextNode: [0], append: 'all', prepend: 'all', replaceChildren: 'all', el: 'from2' };

/** @param {any} node */
function calleeName(node) {
  const c = node.callee;
  if (!c) return '';
  if (c.type === 'Identifier') return c.name;
  if (c.type === 'MemberExpression' && !c.computed && c.property.type === 'Identifier') return c.property.name;
  return '';
}

/** @param {any} node */
function propName(node) {
  if (node.type === 'Property' && !node.computed) {
    if (node.key.type === 'Identifier') return node.key.name;
    if (node.key.type === 'Literal') return String(node.key.value);
  }
  return null;
}

/**
 * @param {string} file
 * @param {string} src
 * @param {any} acorn
 * @param {Map<string, string | Record<string, string>>} en
 * @param {Set<string>} used
 * @param {string[]} problems
 */
function checkJs(file, src, acorn, en, used, problems) {
  let ast;
  try {
    ast = acorn.parse(src, { ecmaVersion: 'latest', sourceType: 'module', locations: true });
  } catch (e) {
    problems.push(`${file}: cannot parse: ${e.message}`);
    return;
  }
  const lines = src.split('\n');
  /** The catalog's namespaces: a key-like literal in one of them must exist. */
  const NAMESPACES = Object.fromEntries([...en.keys()].map((k) => [k.split('.')[0], true]));
  const waived = (line) => /\/\/ i18n-ok: \S/.test(lines[line - 1] || '');

  /**
   * Whether the string at the end of `ancestors` is for people: 'text' (a text position),
   * 'code' (never), 'maybe' (judge by its look).
   * @param {any[]} ancestors the node last
   */
  const position = (ancestors) => {
    for (let i = ancestors.length - 2; i >= 0; i--) {
      const a = ancestors[i];
      const child = ancestors[i + 1];
      if (a.type === 'ImportDeclaration' || a.type === 'ExportNamedDeclaration' && a.source === child ||
        a.type === 'ExportAllDeclaration' || a.type === 'ImportExpression') return 'code';
      if (a.type === 'NewExpression' && a.callee.type === 'Identifier' && CODE_NEWS.has(a.callee.name)) return 'code';
      if (a.type === 'CallExpression') {
        const name = calleeName(a);
        if (a.callee.type === 'MemberExpression' && a.callee.object.type === 'Identifier' &&
          a.callee.object.name === 'console') return 'code';
        const index = a.arguments.indexOf(child);
        if (index < 0) return 'maybe'; /* the callee itself */
        if (name === 'setAttribute') {
          const first = a.arguments[0];
          const attr = first && first.type === 'Literal' ? String(first.value) : '';
          return index === 1 && I18N_ATTRIBUTES.includes(attr) ? 'text' : index === 0 ? 'code' : 'maybe';
        }
        const spec = TEXT_ARGS[/** @type {keyof typeof TEXT_ARGS} */ (name)];
        if (spec === 'all' || spec === 'from2' && index >= 2 || Array.isArray(spec) && spec.includes(index)) return 'text';
        if (CODE_CALLS.has(name)) return 'code';
        return 'maybe';
      }
      if (a.type === 'Property') {
        if (a.key === child && !a.computed) return 'code';
        const p = propName(a);
        if (p && TEXT_PROPS.has(p)) return 'text';
        if (p && CODE_PROPS.has(p)) return 'code';
        return 'maybe';
      }
      if (a.type === 'AssignmentExpression' && a.right === child) {
        const l = a.left;
        const p = l.type === 'MemberExpression' && !l.computed ? l.property.name : '';
        if (TEXT_PROPS.has(p)) return 'text';
        if (CODE_PROPS.has(p)) return 'code';
        return 'maybe';
      }
      if (a.type === 'MemberExpression' && a.property === child) return 'code';
      if (a.type === 'BinaryExpression' && ['===', '!==', '==', '!='].includes(a.operator)) return 'code';
      if (a.type === 'SwitchCase' && a.test === child) return 'code';
      if (a.type === 'TaggedTemplateExpression') return 'code';
      if (['ConditionalExpression', 'LogicalExpression', 'TemplateLiteral', 'ArrayExpression',
        'ObjectExpression', 'ReturnStatement', 'ArrowFunctionExpression', 'BinaryExpression',
        'ParenthesizedExpression', 'SequenceExpression'].includes(a.type)) continue;
      return 'maybe';
    }
    return 'maybe';
  };

  /** @param {string} key */
  const useKey = (key, line) => {
    used.add(key);
    if (!en.has(key)) problems.push(`${file}:${line}: ${key} is not in en.json`);
  };

  /**
   * @param {string} s
   * @param {any[]} ancestors
   * @param {number} line
   */
  const judge = (s, ancestors, line) => {
    if (en.has(s)) {
      used.add(s);
      return;
    }
    if (KEY_LIKE.test(s) && s.split('.')[0] in NAMESPACES) {
      problems.push(`${file}:${line}: "${s}" looks like a key but en.json has no such text`);
      return;
    }
    if (waived(line)) return;
    const where = position(ancestors);
    if (where === 'code') return;
    if (looksLikeText(s, where === 'text'))
      problems.push(`${file}:${line}: "${s.slice(0, 70)}" is words for people outside the catalogs (use t())`);
  };

  /** @param {any} node @param {any[]} ancestors */
  const visit = (node, ancestors) => {
    if (!node || typeof node.type !== 'string') return;
    ancestors.push(node);
    if (node.type === 'CallExpression' && node.callee.type === 'Identifier' &&
      (node.callee.name === 't' || node.callee.name === 'tn') && node.arguments.length) {
      const arg = node.arguments[0];
      const line = node.loc.start.line;
      const literal = arg.type === 'Literal' && typeof arg.value === 'string';
      if (literal) useKey(/** @type {string} */ (arg.value), line);
      else if (arg.type === 'TemplateLiteral') {
        const prefix = arg.quasis[0].value.cooked;
        if (!prefix || !prefix.includes('.')) problems.push(`${file}:${line}: a dynamic key needs a literal "namespace." prefix`);
        else {
          const covered = [...en.keys()].filter((k) => k.startsWith(prefix));
          if (!covered.length) problems.push(`${file}:${line}: no key of en.json starts with ${prefix}`);
          for (const k of covered) used.add(k);
        }
        for (const e of arg.expressions) visit(e, ancestors);
      }
      if (literal || arg.type === 'TemplateLiteral') {
        for (const a of node.arguments.slice(1)) visit(a, ancestors);
        ancestors.pop();
        return;
      }
    }
    if (node.type === 'Literal' && typeof node.value === 'string') judge(node.value, ancestors, node.loc.start.line);
    if (node.type === 'TemplateLiteral') {
      const s = node.quasis.map((q) => q.value.cooked ?? '').join('{x}');
      judge(s, ancestors, node.loc.start.line);
      for (const e of node.expressions) visit(e, ancestors);
      ancestors.pop();
      return;
    }
    for (const [k, v] of Object.entries(node)) {
      if (k === 'loc' || k === 'start' || k === 'end') continue;
      if (Array.isArray(v)) for (const c of v) visit(c, ancestors);
      else if (v && typeof v === 'object' && typeof v.type === 'string') visit(v, ancestors);
    }
    ancestors.pop();
  };
  visit(ast, []);
}

/* ---- docs/api.md's error codes -------------------------------------------------------- */

/** @param {string} root */
export function apiErrorCodes(root) {
  const md = fs.readFileSync(path.join(root, 'docs/api.md'), 'utf8');
  const start = md.indexOf('## Status and error codes');
  if (start < 0) return [];
  const section = md.slice(start, md.indexOf('\n## ', start + 3) >>> 0 || undefined);
  return [...section.matchAll(/^\|\s*(?:\d{3}|\u2014|-)\s*\|\s*`([a-z0-9_]+)`\s*\|/gm)].map((m) => m[1]);
}

/* ---- the whole check ------------------------------------------------------------------ */

/**
 * @param {string} root a checkout (web/, docs/api.md)
 * @param {any} acorn
 * @returns {string[]} the problems, none when all is well
 */
export function check(root, acorn) {
  /** @type {string[]} */
  const problems = [];
  const en = checkCatalogs(root, problems);
  const used = new Set();
  const web = path.join(root, 'web');
  for (const f of fs.readdirSync(web).filter((f) => f.endsWith('.html')).sort())
    checkHtml(`web/${f}`, fs.readFileSync(path.join(web, f), 'utf8'), en, used, problems);
  const assets = path.join(web, 'assets');
  for (const f of fs.readdirSync(assets).filter((f) => f.endsWith('.js')).sort())
    checkJs(`web/assets/${f}`, fs.readFileSync(path.join(assets, f), 'utf8'), acorn, en, used, problems);
  if (fs.existsSync(path.join(root, 'docs/api.md'))) {
    for (const code of apiErrorCodes(root)) {
      if (!en.has(`error.${code}`)) problems.push(`docs/api.md: error code ${code} has no error.${code} in en.json`);
      else used.add(`error.${code}`);
    }
  }
  for (const key of en.keys()) if (!used.has(key)) problems.push(`web/i18n/en.json: ${key} is used nowhere in web/`);
  return problems;
}

/** acorn from tests/e2e's node_modules (scripts/deps.sh --test installs it). */
export async function loadAcorn() {
  const file = path.join(here, '../e2e/node_modules/acorn/dist/acorn.mjs');
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run bash tests/e2e/npm-install.sh`);
  return import(pathToFileURL(file).href);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.resolve(process.argv[2] || path.join(here, '../..'));
  const problems = check(root, await loadAcorn());
  for (const p of problems) console.log(p);
  console.log(problems.length ? `i18n: ${problems.length} problems` : 'i18n: catalogs complete, no text outside them');
  process.exit(problems.length ? 1 : 0);
}
