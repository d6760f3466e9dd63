/*
 * i18n-login.test.mjs — the sign-in page, the Power menu and the account dialogs in Japanese
 * (issue 16).
 *
 * The browser says it is Japanese (locale ja-JP, so navigator.languages and Accept-Language);
 * every expected text is read from the catalogs in web/i18n/, never written here, so a test
 * fails when the page shows another text than its catalog's (or English).
 */

import fs from 'node:fs';
import path from 'node:path';
import { assert, assertEq, checkClean, loginUi, openPage, waitFor } from './harness.mjs';

/* The catalogs, as the page gets them. */
function catalogs(env) {
  const read = (name) => JSON.parse(fs.readFileSync(path.join(env.repo, 'web', 'i18n', name), 'utf8'));
  return { en: read('en.json'), ja: read('ja.json'), languages: read('languages.json') };
}

/* The text of "ns.key" in `catalog`; a plural text by its `other` form, `{count}` filled. */
function text(catalog, key, params = {}) {
  let node = catalog;
  for (const part of key.split('.')) {
    node = node && node[part];
  }
  if (node && typeof node === 'object') node = node.other;
  assert(typeof node === 'string', `the catalog has no text for ${key}`);
  return node.replace(/\{([a-z_]+)\}/g, (all, name) => (name in params ? String(params[name]) : all));
}

const JAPANESE = { locale: 'ja-JP' };

/* The text of an element's own first text node (a menu item's label without its note). */
function ownText(page, selector) {
  return page.$eval(selector, (node) => (node.firstChild ? node.firstChild.textContent : ''));
}

export const tests = [
  {
    name: 'the sign-in page in Japanese: texts, errors, and its selector back to English',
    timeout: 40,
    async fn(env) {
      const { en, ja, languages } = catalogs(env);
      const { page } = await openPage(env.browser, {
        context: JAPANESE,
        allow: [/status of 401/, /HTTP 401 POST .*\/api\/auth\/login$/],
      });
      await page.goto(`${env.demo.origin}/login`);
      await page.waitForSelector('#login-submit:not([disabled])');

      assertEq(await page.getAttribute('html', 'lang'), 'ja', 'the page language');
      assertEq(await page.title(), text(ja, 'login.page_title'), 'the window title');
      assertEq(await page.textContent('.login-head p'), text(ja, 'login.subtitle'), 'the subtitle');
      assertEq(await page.textContent('label[for="user"]'), text(ja, 'login.user'), 'the user label');
      assertEq(await page.textContent('label[for="password"]'), text(ja, 'login.password'), 'the password label');
      assertEq(await page.textContent('label[for="totp"]'), text(ja, 'login.totp'), 'the code label');
      assertEq(await page.textContent('#totp-hint'), text(ja, 'login.totp_hint'), 'the code hint');
      assertEq(await page.textContent('#caps-hint'), text(ja, 'login.caps_lock'), 'the Caps Lock hint');
      assertEq(await page.textContent('#login-submit'), text(ja, 'login.submit'), 'the sign-in button');
      assertEq(await page.textContent('label[for="login-language"]'), text(ja, 'login.language'), 'the language label');
      // The languages by their own names, the current one chosen.
      const offered = await page.$$eval('#login-language option', (opts) => opts.map((o) => [o.value, o.textContent]));
      assertEq(offered, Object.entries(languages), 'the languages offered');
      assertEq(await page.inputValue('#login-language'), 'ja', 'the language chosen');
      await env.shot(page, 'login-ja');

      // A missing user name is said in Japanese, before anything is sent.
      await page.click('#login-submit');
      await page.waitForSelector('#login-error:not([hidden])');
      assertEq(await page.textContent('#login-error'), text(ja, 'login.need_user'), 'the empty user name');

      // The server's bad_credentials, in Japanese.
      await page.fill('#user', 'admin');
      await page.fill('#password', 'certainly not the password');
      await page.click('#login-submit');
      await waitFor('the wrong-password message', async () =>
        (await page.textContent('#login-error')) === text(ja, 'error.bad_credentials'), 10000, 100);
      assert(page.url().startsWith(`${env.demo.origin}/login`), `still on the login page: ${page.url()}`);
      await env.shot(page, 'login-ja-wrong-password');

      // The selector changes the language of this browser: the page reloads in English.
      await Promise.all([page.waitForEvent('load'), page.selectOption('#login-language', 'en')]);
      await page.waitForSelector('#login-submit:not([disabled])');
      assertEq(await page.getAttribute('html', 'lang'), 'en', 'the page language after choosing English');
      assertEq(await page.textContent('#login-submit'), text(en, 'login.submit'), 'the sign-in button in English');
      assertEq(await page.textContent('.login-head p'), text(en, 'login.subtitle'), 'the subtitle in English');
      assertEq(await page.title(), text(en, 'login.page_title'), 'the window title in English');
      assertEq(await page.inputValue('#login-language'), 'en', 'the language chosen');

      // Remembered in this browser, over the Japanese browser language.
      await page.reload();
      await page.waitForSelector('#login-submit:not([disabled])');
      assertEq(await page.getAttribute('html', 'lang'), 'en', 'the page language after a reload');
      assertEq(await page.textContent('label[for="user"]'), text(en, 'login.user'), 'the user label after a reload');
      checkClean(page);
    },
  },
  {
    name: 'the console in Japanese: the Power menu, a password check, the users dialog',
    timeout: 60,
    async fn(env) {
      const { ja } = catalogs(env);
      const { page } = await openPage(env.browser, { context: JAPANESE });
      await loginUi(page, env.demo);
      assertEq(await page.getAttribute('html', 'lang'), 'ja', 'the console language');

      // The Power menu.
      assertEq(await page.textContent('#mb-power'), text(ja, 'power.menu'), 'the Power menu button');
      await page.click('#mb-power');
      await page.waitForSelector('#menu-power:not([hidden])');
      assertEq(await ownText(page, '#atx-on'), text(ja, 'power.on'), 'power on');
      assertEq(await ownText(page, '#atx-off'), text(ja, 'power.off'), 'shut down');
      assertEq(await page.textContent('#atx-off .menu-note'), text(ja, 'power.off_note'), 'the note of shut down');
      assertEq(await ownText(page, '#atx-off-hard'), text(ja, 'power.off_hard'), 'power off (hard)');
      assertEq(await ownText(page, '#atx-reset-hard'), text(ja, 'power.reset_hard'), 'reset');
      assertEq(await ownText(page, '#atx-click-power-long'), text(ja, 'power.hold_power'), 'hold power');
      assertEq(await page.textContent('#menu-power .menu-heading'), text(ja, 'power.buttons'), 'the buttons heading');
      assertEq(await page.textContent('#atx-led-power'), text(ja, 'power.led_power'), 'the power light');
      const states = [text(ja, 'power.target_on'), text(ja, 'power.target_off')];
      const status = await waitFor('the power state in Japanese', async () => {
        const s = await page.textContent('#power-status');
        return states.includes(s) ? s : null;
      }, 10000, 100);
      const ledTitle = await page.getAttribute('#atx-led-power', 'title');
      const on = status === states[0];
      assertEq(ledTitle, text(ja, on ? 'power.led.power_on' : 'power.led.power_off'), 'the power light\'s title');
      await env.shot(page, 'console-ja-power');
      await page.keyboard.press('Escape');

      // The password dialog checks its fields in Japanese, before anything is sent.
      let posted = 0;
      page.on('request', (req) => {
        if (req.method() === 'POST' && req.url().endsWith('/api/auth/password')) posted += 1;
      });
      await page.click('#btn-password');
      await page.waitForSelector('#password-dialog[open]');
      assertEq(await page.textContent('#password-title'), text(ja, 'account.title'), 'the dialog title');
      assertEq(await page.textContent('label[for="pw-new"]'), text(ja, 'account.new'), 'the new password label');
      await page.fill('#pw-old', 'anything at all');
      await page.fill('#pw-new', 'short');
      await page.fill('#pw-confirm', 'short');
      await page.click('#pw-submit');
      await page.waitForSelector('#pw-error:not([hidden])');
      assertEq(await page.textContent('#pw-error'), text(ja, 'account.too_short', { count: 8 }), 'a short password');
      assertEq(await page.getAttribute('#pw-new', 'aria-invalid'), 'true', 'the short field is marked');
      await page.fill('#pw-new', 'long enough 1');
      await page.fill('#pw-confirm', 'long enough 2');
      await page.click('#pw-submit');
      await waitFor('the mismatch message', async () =>
        (await page.textContent('#pw-error')) === text(ja, 'account.mismatch'), 5000, 100);
      await env.shot(page, 'console-ja-password');
      assertEq(posted, 0, 'requests sent for invalid forms');
      await page.click('#password-dialog .dialog-foot [data-close]');

      // The users dialog (admin): the roles by their Japanese names.
      await page.click('#btn-users');
      await page.waitForSelector('#users-dialog[open]');
      assertEq(await page.textContent('#users-title'), text(ja, 'users.title'), 'the users title');
      await page.waitForSelector('#users-body select');
      const roleNames = ['viewer', 'operator', 'admin'].map((r) => text(ja, `users.role.${r}`));
      const adminRow = page.locator('#users-body tr', { has: page.locator('td.cell-name', { hasText: /^admin/ }) });
      const options = await adminRow.locator('select option').allTextContents();
      assertEq(options, roleNames, 'the role names in the admin\'s row');
      assertEq(await adminRow.locator('select').evaluate((s) => s.selectedOptions[0].textContent), text(ja, 'users.role.admin'),
        'the admin\'s role');
      assertEq(await adminRow.locator('.you').textContent(), text(ja, 'users.you'), 'the own row');
      assertEq(await page.locator('#add-role option').allTextContents(), roleNames, 'the roles of a new user');
      const count = await page.locator('#users-body select').count();
      assertEq(await page.textContent('#users-count'), text(ja, 'users.count', { count }), 'the user count');
      await env.shot(page, 'console-ja-users');
      checkClean(page);
    },
  },
];
