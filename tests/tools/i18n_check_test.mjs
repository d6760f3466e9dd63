#!/usr/bin/env node
/*
 * i18n_check_test.mjs — shows that tests/tools/i18n_check.mjs fails for each kind of problem
 * it is there to catch, and passes a clean tree. Each case writes a small tree (web/, docs/)
 * into a temp dir, changes one thing and expects that problem to be reported. Ends with
 * `N passed, M failed`.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { check, loadAcorn } from './i18n_check.mjs';

const acorn = await loadAcorn();

const base = () => ({
  'web/i18n/languages.json': JSON.stringify({ en: 'English', ja: '日本語' }),
  'web/i18n/en.json': JSON.stringify({
    page: { title: 'Sign in', hint: 'Your name', hello: 'Hello, {name}.', files: { one: '{count} file', other: '{count} files' } },
    state: { on: 'On', off: 'Off' },
    error: { forbidden: 'Your role does not allow this.' },
  }),
  'web/i18n/ja.json': JSON.stringify({
    page: { title: 'ログイン', hint: 'ユーザー名', hello: '{name} さん、こんにちは。', files: { other: '{count} 個のファイル' } },
    state: { on: 'オン', off: 'オフ' },
    error: { forbidden: 'この操作を行う権限がありません。' },
  }),
  'web/index.html': '<!doctype html>\n<html lang="en"><head><title>ipkvm</title></head><body>\n' +
    '<h1 data-i18n="page.title">Sign in</h1>\n' +
    '<input id="n" placeholder="Your name" data-i18n-placeholder="page.hint">\n' +
    '<p><kbd>Ctrl</kbd>+<kbd>Alt</kbd>+<kbd>Del</kbd></p>\n</body></html>\n',
  'web/assets/page.js': [
    "import { t, tn } from './i18n.js';",
    "const KEYS = { on: 'state.on', off: 'state.off' };",
    "export function show(node, name, n, s) {",
    "  node.className = 'btn btn-small';",
    "  node.title = t('page.hello', { name });",
    "  node.textContent = tn('page.files', n) + t(KEYS[s]);",
    "  if (!node) throw new Error('the page has no node here');",
    "  node.dataset.x = 'Ä';",
    "}",
  ].join('\n'),
  'docs/api.md': '# API\n\n## Status and error codes\n\n| status | code | when |\n|---|---|---|\n' +
    '| 403 | `forbidden` | the role may not do this |\n\n## Next\n',
});

/** @type {Array<[string, (files: Record<string, string>) => void, string | null]>} */
const cases = [
  ['a clean tree passes', () => {}, null],
  ['a catalog lacking a key of en', (f) => {
    const ja = JSON.parse(f['web/i18n/ja.json']);
    delete ja.state.off;
    f['web/i18n/ja.json'] = JSON.stringify(ja);
  }, 'web/i18n/ja.json: lacks state.off'],
  ['a catalog with a key en lacks', (f) => {
    const ja = JSON.parse(f['web/i18n/ja.json']);
    ja.state.maybe = 'たぶん';
    f['web/i18n/ja.json'] = JSON.stringify(ja);
  }, 'has state.maybe, which en.json lacks'],
  ['a repeated key (a merge that lost a text)', (f) => {
    f['web/i18n/ja.json'] = f['web/i18n/ja.json'].replace('"on":"オン"', '"on":"オン","on":"入"');
  }, 'duplicate key "on"'],
  ['parameters that differ from en', (f) => {
    f['web/i18n/ja.json'] = f['web/i18n/ja.json'].replace('{name} さん', '{user} さん');
  }, 'page.hello has parameters {user}, en.json {name}'],
  ['an unused key', (f) => {
    f['web/assets/page.js'] = f['web/assets/page.js'].replace("off: 'state.off' ", '');
  }, 'state.off is used nowhere'],
  ['a t() key en lacks', (f) => {
    f['web/assets/page.js'] += "\nexport const x = () => t('page.nope');\n";
  }, 'page.nope is not in en.json'],
  ['an English literal in a text position', (f) => {
    f['web/assets/page.js'] += "\nexport const y = (n) => { n.textContent = 'Saved'; };\n";
  }, '"Saved" is words for people'],
  ['an English sentence anywhere', (f) => {
    f['web/assets/page.js'] += "\nexport const z = (ok) => (ok ? 'All went well.' : '');\n";
  }, '"All went well." is words for people'],
  ['Japanese in a module', (f) => {
    f['web/assets/page.js'] += "\nexport const w = '保存しました';\n";
  }, '"保存しました" is words for people'],
  ['a waived line passes', (f) => {
    f['web/assets/page.js'] += "\nexport const v = 'Two words'; // i18n-ok: a test fixture\n";
  }, null],
  ['HTML text without data-i18n', (f) => {
    f['web/index.html'] = f['web/index.html'].replace('</body>', '<p>Welcome back</p></body>');
  }, 'text "Welcome back" in <p> has no data-i18n'],
  ['an HTML title without data-i18n-title', (f) => {
    f['web/index.html'] = f['web/index.html'].replace('<h1 ', '<h1 title="Page title" ');
  }, '<h1 title="Page title"> has words and no data-i18n-title'],
  ['HTML English that drifted from en.json', (f) => {
    f['web/index.html'] = f['web/index.html'].replace('>Sign in<', '>Log in<');
  }, 'says "Log in", en.json\'s page.title "Sign in"'],
  ['an element with data-i18n holding elements', (f) => {
    f['web/index.html'] = f['web/index.html'].replace('>Sign in</h1>', '>Sign <b>in</b></h1>');
  }, '<h1 data-i18n> holds a <b>'],
  ['a documented error code without its text', (f) => {
    f['docs/api.md'] = f['docs/api.md'].replace('|\n\n## Next', '|\n| 409 | `conflict` | it exists |\n\n## Next');
  }, 'error code conflict has no error.conflict'],
  ['an empty namespace', (f) => {
    const en = JSON.parse(f['web/i18n/en.json']);
    en.spare = {};
    f['web/i18n/en.json'] = JSON.stringify(en);
  }, 'web/i18n/en.json: spare is an empty object'],
  ['a catalog not in languages.json', (f) => {
    f['web/i18n/de.json'] = f['web/i18n/en.json'];
  }, 'web/i18n/de.json: not listed'],
];

let passed = 0;
let failed = 0;
for (const [name, change, want] of cases) {
  const files = base();
  change(files);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipkvm-i18n-'));
  try {
    for (const [rel, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), text);
    }
    const problems = check(dir, acorn);
    const ok = want === null ? problems.length === 0 : problems.some((p) => p.includes(want));
    if (ok) passed++;
    else failed++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok ? '' : `: expected ${want === null ? 'no problem' : `"${want}"`}, got ${JSON.stringify(problems)}`}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
