/*
 * i18n.test.mjs — the console in Japanese (issue 16): a browser whose language is Japanese
 * gets the console in Japanese (menus, status bar, help, an API error, the signal overlay),
 * and the language select changes it, kept by the device for the user.
 *
 * The expected texts are read from web/i18n/*.json, so the tests follow the catalogs. They
 * run on their own daemon (the target is powered off here) with their own users, so the
 * shared demo daemon's admin keeps its language and its target stays on.
 */

import fs from 'node:fs';
import path from 'node:path';
import { Api, assert, assertEq, checkClean, loginUi, openPage, waitFor } from './harness.mjs';
import { ensureConsole, target } from './console.test.mjs';

/** A Japanese browser: its languages and what it asks servers for. */
const JAPANESE = { locale: 'ja-JP', extraHTTPHeaders: { 'Accept-Language': 'ja,en;q=0.5' } };
const OPERATOR = { name: 'nihongo', password: 'nihongo password 1', role: 'operator' };
const VIEWER = { name: 'miru', password: 'miru password 1', role: 'viewer' };

/** @returns the catalog of `lang` */
function catalog(env, lang) {
  return JSON.parse(fs.readFileSync(path.join(env.repo, 'web', 'i18n', `${lang}.json`), 'utf8'));
}

/** The text of `key` in `cat`, its {parameters} filled from `params`. */
function text(cat, key, params = {}) {
  const value = key.split('.').reduce((node, part) => (node ? node[part] : undefined), cat);
  if (typeof value !== 'string') throw new Error(`no text ${key} in the catalog`);
  return value.replace(/\{(\w+)\}/g, (all, name) => (name in params ? String(params[name]) : all));
}

let daemon = null;

/* One daemon for these tests, with the two users (their language reset to none). */
async function setup(env) {
  if (!daemon) {
    daemon = await env.startDaemon();
    const admin = await daemon.admin();
    for (const u of [OPERATOR, VIEWER]) await admin.post('/api/users', u);
  }
  for (const u of [OPERATOR, VIEWER]) {
    const api = new Api(daemon);
    await api.login(u.name, u.password);
    // Best effort: the language test checks this endpoint itself.
    await api.request('POST', '/api/auth/language', { language: null });
  }
  return daemon;
}

async function textOf(page, selector) {
  return (await page.textContent(selector)).trim();
}

export const tests = [
  {
    name: 'a Japanese browser gets the console in Japanese: menus, status bar, help, signal overlay',
    timeout: 90,
    async fn(env) {
      const d = await setup(env);
      const ja = catalog(env, 'ja');
      const en = catalog(env, 'en');
      const admin = await d.admin();
      await ensureConsole(admin);
      const { page } = await openPage(env.browser, { context: JAPANESE });
      await loginUi(page, d, OPERATOR.name, OPERATOR.password);
      assertEq(await page.getAttribute('html', 'lang'), 'ja', 'the page language');

      // The menu bar: every menu in Japanese (no menu label is its English text).
      assertEq(await textOf(page, '#mb-video'), text(ja, 'video.menu'), 'the Video menu');
      const labels = await page.$$eval('#menubar .menu-button', (nodes) => nodes.map((n) => n.textContent.trim()));
      assert(labels.length >= 5, `menus: ${JSON.stringify(labels)}`);
      for (const label of labels) assert(/[^\x00-\x7f]/.test(label), `menu label in Japanese: ${label}`);
      await page.click('#mb-video');
      assertEq(await textOf(page, 'label[for="video-codec"]'), text(ja, 'video.codec'), 'codec label');
      assertEq(await textOf(page, '#btn-fullscreen'), text(ja, 'video.fullscreen'), 'fullscreen item');
      assertEq(await textOf(page, '#btn-snapshot'), text(ja, 'video.snapshot'), 'snapshot item');
      await page.keyboard.press('Escape');
      assertEq(await page.getAttribute('#btn-help', 'aria-label'), text(ja, 'console.help'), 'help button');
      assertEq(await page.getAttribute('#language-select', 'aria-label'), text(ja, 'language.label'), 'language select');
      assertEq(await textOf(page, '#role-badge'), text(ja, 'console.role_operator'), 'role badge');
      assertEq(await textOf(page, '#btn-logout'), text(ja, 'console.logout'), 'log out button');

      // The status bar.
      assertEq(await textOf(page, '#conn-text'), text(ja, 'status.connected'), 'connection');
      assertEq(await textOf(page, '#st-signal .status-label'), text(ja, 'status.video'), 'video label');
      await waitFor('the signal word', async () => (await textOf(page, '#signal')) === text(ja, 'signal.word.ok'));
      assertEq(await textOf(page, '#st-input .status-label'), text(ja, 'status.input'), 'input label');
      assertEq(await textOf(page, '#capture'), text(ja, 'status.capture_off'), 'input state');
      const hid = await textOf(page, '#hid-state');
      assert([text(ja, 'status.hid_online'), text(ja, 'status.hid_offline')].includes(hid), `HID state: ${hid}`);
      const hidTitle = (await page.getAttribute('#st-hid', 'title')) || '';
      assert(hidTitle.startsWith(text(ja, 'status.hid_title_state').split('（')[0]), `HID title in Japanese: ${hidTitle}`);
      assertEq(await textOf(page, '.status-clock .status-label >> nth=1'), text(ja, 'status.up'), 'uptime label');
      const uptime = await waitFor('the uptime', async () => {
        const v = await textOf(page, '#uptime');
        return v !== '–' ? v : null;
      });
      assert(/[^\x00-\x7f]/.test(uptime), `uptime in Japanese units: ${uptime}`);
      assertEq(await page.getAttribute('#latency-item', 'title') !== text(en, 'status.latency_title'), true,
        'latency title translated');

      // The help dialog.
      await page.click('#btn-help');
      await page.waitForSelector('#help-dialog[open]');
      assertEq(await textOf(page, '#help-title'), text(ja, 'help.title'), 'help title');
      const paragraphs = await page.$$eval('#help-dialog dd', (nodes) => nodes.map((n) => n.textContent.trim()));
      assert(paragraphs.includes(text(ja, 'help.click_text')), `help paragraph: ${paragraphs[0]}`);
      assert(paragraphs.includes(text(ja, 'help.mouse_text')), 'help: the mouse paragraph');
      await env.shot(page, 'console-ja-help');
      await page.click('#help-dialog .dialog-foot button[data-close]');

      // No signal: the target is powered off; the stage explains it in Japanese over the
      // device's English placeholder picture.
      await admin.post('/api/atx/power', { action: 'off_hard' });
      await waitFor('the target to be off', async () => (await target(admin)).power === 'off', 15000, 200);
      await waitFor('the power button press to end', async () => (await admin.get('/api/atx')).busy === false, 15000, 200);
      await page.waitForSelector('#signal-overlay:not([hidden])', { timeout: 15000 });
      const signal = (await admin.get('/api/streamer')).signal;
      assertEq(signal.state, 'no_signal', 'the device reports no signal');
      assertEq(await textOf(page, '#signal-title'), text(ja, 'signal.state.no_signal'), 'overlay title');
      assertEq(await textOf(page, '#signal-explain'), text(ja, 'signal.explain.no_signal'), 'overlay explanation');
      const adviceKey = signal.capture === 'virtual' ? 'signal.advice.no_signal_virtual' : 'signal.advice.no_signal';
      assertEq(await textOf(page, '#signal-advice'), text(ja, adviceKey), 'overlay advice');
      assertEq(await textOf(page, '#signal-detail'), text(ja, 'signal.detail', { reason: signal.reason }),
        'the device\'s own reason as detail');
      assertEq(await textOf(page, '#signal'), text(ja, 'signal.word.no_signal'), 'status bar signal');
      await env.shot(page, 'console-ja-no-signal');

      // Back on: the overlay goes.
      await ensureConsole(admin);
      await page.waitForSelector('#signal-overlay', { state: 'hidden', timeout: 20000 });
      await env.shot(page, 'console-ja');
      checkClean(page);
    },
  },
  {
    name: 'API errors are shown in Japanese, with the server\'s message as detail where it names the field',
    timeout: 60,
    async fn(env) {
      const d = await setup(env);
      const ja = catalog(env, 'ja');
      const { page } = await openPage(env.browser, { context: JAPANESE, allow: [/403.*\/api\/streamer\/params/] });
      await loginUi(page, d, VIEWER.name, VIEWER.password);
      assertEq(await textOf(page, '#role-badge'), text(ja, 'console.role_viewer'), 'role badge');
      // A viewer's settings are disabled; enabled by hand, the device refuses the change.
      await page.click('#mb-video');
      assert(await page.isDisabled('#video-quality'), 'the quality is disabled for viewers');
      await page.$eval('#video-quality', (s) => {
        s.disabled = false;
      });
      await page.selectOption('#video-quality', '50');
      const toast = await waitFor('the error toast', async () => {
        const v = await page.textContent('#toasts');
        return v && v.includes(text(ja, 'error.forbidden')) ? v : null;
      });
      assert(toast.includes(text(ja, 'video.params_failed', { error: text(ja, 'error.forbidden') })),
        `the toast says what failed and why: ${toast}`);
      assert(!/role|allow/i.test(toast), `no English in the toast: ${toast}`);
      assert(page.allowed.some((p) => /^HTTP 403 POST/.test(p)), `the device refused it: ${page.allowed}`);
      checkClean(page);
      await page.context().close();

      // A refused value: the sentence, then the server's own message naming the field.
      const admin = await d.admin();
      const refused = await admin.request('POST', '/api/streamer/params', { quality: 0 });
      assertEq(refused.status, 400, 'quality 0 is refused');
      const detail = refused.body.error.message;
      const op = await openPage(env.browser, { context: JAPANESE, allow: [/400.*\/api\/streamer\/params/] });
      await loginUi(op.page, d, OPERATOR.name, OPERATOR.password);
      await op.page.click('#mb-video');
      await op.page.$eval('#video-quality', (s) => {
        const o = document.createElement('option');
        o.value = '0';
        o.textContent = '0';
        s.append(o);
      });
      await op.page.selectOption('#video-quality', '0');
      const expected = text(ja, 'error.with_detail', { text: text(ja, 'error.bad_request'), detail });
      await waitFor('the error with its detail', async () => (await op.page.textContent('#toasts')).includes(expected));
      checkClean(op.page);
    },
  },
  {
    name: 'the language select switches to English, the device keeps it for the user, and back',
    timeout: 90,
    async fn(env) {
      const d = await setup(env);
      const ja = catalog(env, 'ja');
      const en = catalog(env, 'en');
      const first = await openPage(env.browser, { context: JAPANESE });
      const page = first.page;
      await loginUi(page, d, OPERATOR.name, OPERATOR.password);
      assertEq(await page.getAttribute('html', 'lang'), 'ja', 'Japanese at first');
      const names = await page.$$eval('#language-select option', (o) => o.map((n) => [n.value, n.textContent]));
      assert(names.some(([v, n]) => v === 'ja' && n === '日本語') && names.some(([v, n]) => v === 'en' && n === 'English'),
        `each language by its own name: ${JSON.stringify(names)}`);
      // Keyboard: focus the select and choose English.
      await page.focus('#language-select');
      await Promise.all([page.waitForEvent('load'), page.selectOption('#language-select', 'en')]);
      await page.waitForSelector('#mb-video');
      await page.waitForSelector('#conn.conn-connected');
      assertEq(await page.getAttribute('html', 'lang'), 'en', 'English after the switch');
      assertEq(await textOf(page, '#mb-video'), text(en, 'video.menu'), 'the Video menu in English');
      assertEq(await textOf(page, '#conn-text'), text(en, 'status.connected'), 'status bar in English');
      assertEq(await page.inputValue('#language-select'), 'en', 'the select shows English');
      checkClean(page);
      await first.context.close();

      // The device remembers it for the user: a new (Japanese) browser gets English.
      const api = new Api(d);
      await api.login(OPERATOR.name, OPERATOR.password);
      assertEq((await api.get('/api/auth/check')).language, 'en', 'the device keeps the choice');
      const second = await openPage(env.browser, { context: JAPANESE });
      await loginUi(second.page, d, OPERATOR.name, OPERATOR.password);
      assertEq(await second.page.getAttribute('html', 'lang'), 'en', 'English in a new browser');
      assertEq(await textOf(second.page, '#mb-video'), text(en, 'video.menu'), 'menu in English in a new browser');

      // And back to Japanese.
      await Promise.all([second.page.waitForEvent('load'), second.page.selectOption('#language-select', 'ja')]);
      await second.page.waitForSelector('#mb-video');
      assertEq(await second.page.getAttribute('html', 'lang'), 'ja', 'Japanese again');
      assertEq(await textOf(second.page, '#mb-video'), text(ja, 'video.menu'), 'menu in Japanese again');
      assertEq((await api.get('/api/auth/check')).language, 'ja', 'the device keeps the new choice');
      checkClean(second.page);
    },
  },
  {
    name: 'a catalog that cannot be read: the console comes up in English; a blink of the network is retried',
    timeout: 90,
    async fn(env) {
      const d = await setup(env);
      const ja = catalog(env, 'ja');
      const en = catalog(env, 'en');
      // What the page logs about it (and the browser about the failed loads) is expected.
      const allow = [/i18n: /, /Failed to load resource/, /HTTP 404 GET \S+\/i18n\/ja\.json$/];

      // ja.json cannot be read: a Japanese browser gets the whole console in English.
      const missing = await openPage(env.browser, { context: JAPANESE, allow });
      await missing.context.route('**/i18n/ja.json', (route) => route.fulfill({ status: 404, body: '' }));
      await loginUi(missing.page, d, OPERATOR.name, OPERATOR.password);
      assertEq(await missing.page.getAttribute('html', 'lang'), 'en', 'English when ja.json is missing');
      assertEq(await textOf(missing.page, '#mb-video'), text(en, 'video.menu'), 'the Video menu in English');
      assertEq(await textOf(missing.page, '#conn-text'), text(en, 'status.connected'), 'the status bar in English');
      checkClean(missing.page);
      await missing.context.close();

      // languages.json fails twice (the sign-in page's first two tries): the page tries
      // again and comes up in Japanese.
      let failures = 0;
      const blink = await openPage(env.browser, { context: JAPANESE, allow });
      await blink.context.route('**/i18n/languages.json', (route) => {
        if (failures < 2) {
          failures++;
          return route.abort();
        }
        return route.continue();
      });
      await loginUi(blink.page, d, OPERATOR.name, OPERATOR.password);
      assertEq(failures, 2, 'languages.json failed twice');
      assertEq(await blink.page.getAttribute('html', 'lang'), 'ja', 'Japanese after the retries');
      assertEq(await textOf(blink.page, '#mb-video'), text(ja, 'video.menu'), 'the Video menu in Japanese');
      checkClean(blink.page);
      await blink.context.close();
    },
  },
  {
    name: 'no English word anywhere in the Japanese console: every menu, dialog, the keyboard and the status bar',
    timeout: 120,
    async fn(env) {
      const d = await setup(env);
      const admin = await d.admin();
      await admin.request('POST', '/api/auth/language', { language: null });
      await ensureConsole(admin);
      const { page, context } = await openPage(env.browser, { context: JAPANESE });
      await loginUi(page, d, 'admin', d.password);
      assertEq(await page.getAttribute('html', 'lang'), 'ja', 'the page language');
      // What people see: the visible text and the accessible names of the page, but not
      // what comes from elsewhere (user, host and image names, the device's own reason
      // under the signal panel, the picture) nor names that stay as they are.
      const NAMES = new Set([
        'ipkvm', 'ipkvmd', 'MJPEG', 'JPEG', 'HID', 'HDD', 'LED', 'URL', 'SHA', 'TOTP', 'BIOS', 'JIS', 'OS',
        'Windows', 'Linux', 'Magic', 'SysRq', /* product and technical names */
        'fps', 'kb', 'ms', 'GB', /* units as Intl writes them in Japanese */
        'Ctrl', 'Alt', 'Shift', 'Del', 'Tab', 'Esc', 'Enter', 'Win', 'Meta', 'Backspace', 'PrintScreen', 'PrtSc',
        'ScrLk', 'Pause', 'Ins', 'Home', 'PgUp', 'End', 'PgDn', 'Num', 'Caps', 'Scroll', /* key names */
        'https', 'image', 'iso', 'name', /* the example values of the download fields */
        'virtual', /* the keyboard output's driver, a name */
        'admin', OPERATOR.name, VIEWER.name, /* user names */
      ]);
      const sweep = async (where) => page.evaluate(({ names, where: w }) => {
        const skip = (n) => n.closest('#user-name, #device-host, #device-version, #signal-detail, #backends, ' +
          '.users-table td:first-child, .msd-image-name, script, style, [hidden]');
        const words = new Set();
        const take = (text, origin) => {
          for (const word of text.match(/[A-Za-z][A-Za-z]+/g) || []) if (!names.includes(word)) words.add(`${word} (${origin})`);
        };
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
          const parent = n.parentElement;
          if (!parent || skip(parent) || !parent.getClientRects().length) continue;
          take(n.textContent || '', `${w}: text of <${parent.tagName.toLowerCase()}${parent.id ? '#' + parent.id : ''}>`);
        }
        for (const node of document.querySelectorAll('[title], [aria-label], [placeholder]')) {
          if (skip(node) || !node.getClientRects().length) continue;
          for (const attr of ['title', 'aria-label', 'placeholder']) {
            const v = node.getAttribute(attr);
            if (v) take(v, `${w}: ${attr} of <${node.tagName.toLowerCase()}${node.id ? '#' + node.id : ''}>`);
          }
        }
        return [...words];
      }, { names: [...NAMES], where });
      const found = [];
      found.push(...await sweep('console'));
      const menus = await page.$$eval('#menubar .menu-button', (nodes) => nodes.map((n) => n.id));
      assert(menus.length >= 5, `menus: ${menus}`);
      for (const id of menus) {
        await page.click(`#${id}`);
        found.push(...await sweep(id));
        await page.keyboard.press('Escape');
      }
      for (const [button, dialog] of [['#btn-help', '#help-dialog'], ['#btn-password', '#password-dialog'],
        ['#btn-users', '#users-dialog']]) {
        await page.click(button);
        await page.waitForSelector(`${dialog}[open]`);
        if (dialog === '#users-dialog') await page.waitForSelector('#users-dialog tbody tr td:nth-child(2)');
        found.push(...await sweep(dialog));
        await page.keyboard.press('Escape');
      }
      await page.click('#mb-keyboard');
      await page.click('#btn-paste');
      await page.waitForSelector('#paste-dialog[open]');
      found.push(...await sweep('paste dialog'));
      await page.keyboard.press('Escape');
      await page.click('#mb-keyboard');
      await page.click('#btn-osk');
      await page.waitForSelector('#osk:not([hidden])');
      found.push(...await sweep('on-screen keyboard'));
      assertEq(found, [], 'English words a Japanese user would meet');
      checkClean(page);
      await context.close();
    },
  },
];
