/*
 * i18n-input.test.mjs — the input and media parts of the console in Japanese (issue 16): with
 * a Japanese browser the target layout defaults to jp and the on-screen keyboard draws the
 * JIS keys as Japanese keyboards print them; the paste dialog and the Virtual media menu
 * speak Japanese, with counts, sizes and dates written by Intl; an English browser keeps the
 * old default, and a layout chosen in the browser wins over its language.
 *
 * Expected texts come from web/i18n/*.json (the catalogs the page uses), sizes and dates from
 * the same Intl calls i18n.js makes, evaluated in the page's browser.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assert, assertEq, checkClean, loginUi, openPage, waitFor } from './harness.mjs';

/** @returns {Record<string, any>} a catalog */
function catalog(env, lang) {
  return JSON.parse(fs.readFileSync(path.join(env.repo, 'web', 'i18n', `${lang}.json`), 'utf8'));
}

/* The text at "ns.key.sub" of a catalog, its {params} filled. A plural text takes `form`. */
function text(cat, key, params = {}, form = 'other') {
  let v = key.split('.').reduce((node, part) => (node ? node[part] : undefined), cat);
  if (v && typeof v === 'object') v = v[form];
  assert(typeof v === 'string', `no text ${key} in the catalog`);
  return v.replace(/\{(\w+)\}/g, (all, name) => (name in params ? String(params[name]) : all));
}

async function layoutValue(page) {
  return page.$eval('#kb-layout', (s) => s.value);
}

export const tests = [
  {
    name: 'Japanese browser: the layout defaults to jp, the on-screen keyboard shows the JIS keys in Japanese, paste in Japanese',
    timeout: 60,
    async fn(env) {
      const ja = catalog(env, 'ja');
      const d = await env.startDaemon();
      const { page } = await openPage(env.browser, { context: { locale: 'ja-JP' } });
      await loginUi(page, d);
      assertEq(await page.evaluate(() => navigator.languages[0]), 'ja-JP', "the browser's first language");
      assertEq(await page.getAttribute('html', 'lang'), 'ja', 'the page language');
      assertEq(await layoutValue(page), 'jp', 'target layout with no choice saved');
      assertEq(await page.evaluate(() => localStorage.getItem('ipkvm.layout')), null, 'nothing saved by the default');

      await page.click('#mb-keyboard');
      assertEq(await page.textContent('#mb-keyboard'), text(ja, 'keyboard.menu'), 'Keyboard menu button');
      assertEq(await page.$eval('#kb-layout', (s) => s.selectedOptions[0].textContent), text(ja, 'keyboard.layout.jp'),
        'layout shown');
      assertEq(await page.textContent('label[for="kb-layout"]'), text(ja, 'keyboard.layout_label'), 'layout label');
      assertEq((await page.textContent('#btn-osk')).trim(), text(ja, 'keyboard.osk'), 'OSK item');
      assertEq(await page.getAttribute('[data-keys="ControlLeft+AltLeft+Delete"]', 'title'),
        text(ja, 'keyboard.shortcut.ctrl_alt_del'), 'Ctrl+Alt+Del tooltip');
      assertEq((await page.textContent('[data-keys="ControlLeft+AltLeft+Delete"]')).trim(), 'Ctrl+Alt+Del',
        'the shortcut keeps its name');
      assertEq(await page.$eval('#sysrq-key', (s) => s.options[0].textContent), `R · ${text(ja, 'keyboard.sysrq.r')}`,
        'SysRq choice');

      await page.click('#btn-osk');
      await page.waitForSelector('#osk:not([hidden])');
      const legend = (code) => page.textContent(`#osk .osk-key[data-code="${code}"]`);
      assertEq(await page.textContent('#osk-title'),
        text(ja, 'osk.title', { layout: text(ja, 'keyboard.layout.jp') }), 'OSK title');
      for (const [code, key] of [['Backquote', 'hankaku_zenkaku'], ['CapsLock', 'eisu'], ['NonConvert', 'muhenkan'],
        ['Convert', 'henkan'], ['KanaMode', 'kana'], ['ShiftLeft', 'shift'], ['Enter', 'enter']]) {
        assertEq(await legend(code), text(ja, `osk.key.${key}`), `legend of ${code}`);
      }
      assertEq(await legend('IntlYen'), '¥', 'a character legend stays literal');
      assertEq(await legend('BracketLeft'), '@', 'JIS @ key');
      assertEq(await page.getAttribute('#osk-close', 'aria-label'), text(ja, 'osk.close'), 'close button');
      // A screen reader says what a key shows, or the name of its glyph, never a key code.
      const name = (code) => page.getAttribute(`#osk .osk-key[data-code="${code}"]`, 'aria-label');
      assertEq(await name('KeyQ'), 'Q', 'the Q key is named Q');
      assertEq(await name('NonConvert'), text(ja, 'osk.key.muhenkan'), 'a word key is named by its word');
      assertEq(await name('Backspace'), text(ja, 'osk.glyph.backspace'), 'the ⌫ key is named in Japanese');
      assertEq(await name('ArrowUp'), text(ja, 'osk.glyph.up'), 'the ↑ key is named in Japanese');
      // Every key's legend fits inside its key (the long Japanese names wrap in a smaller font).
      const clipped = await page.$$eval('#osk .osk-key', (keys) =>
        keys.filter((k) => k.scrollWidth > k.clientWidth + 1 || k.scrollHeight > k.clientHeight + 1)
          .map((k) => k.textContent));
      assertEq(clipped, [], 'legends cut off');
      await env.shot(page, 'i18n-osk-ja');

      // Paste: its texts, and the characters the jp layout cannot type, counted in Japanese.
      await page.click('#mb-keyboard');
      await page.click('#btn-paste');
      await page.waitForSelector('#paste-dialog[open]');
      assertEq(await page.textContent('#paste-title'), text(ja, 'paste.title'), 'paste title');
      assertEq(await page.textContent('#paste-submit'), text(ja, 'paste.submit'), 'paste button');
      assertEq(await page.textContent('label[for="paste-delay"]'), text(ja, 'paste.delay_label'), 'delay label');
      assertEq(await page.$eval('#paste-delay', (s) => s.options[3].textContent), text(ja, 'paste.delay_50'), 'delay');
      assertEq(await page.$eval('#paste-layout', (s) => s.value), 'jp', 'paste layout follows the menu');
      await page.fill('#paste-text', 'ab éü');
      await page.click('#paste-submit');
      await page.waitForSelector('#paste-done:not([hidden])', { timeout: 20000 });
      const report = await page.textContent('#paste-untyped p');
      assertEq(report, text(ja, 'paste.untyped', { count: 2, layout: text(ja, 'keyboard.layout.jp') }),
        'untyped characters report');
      const items = await page.$$eval('#paste-untyped li', (li) => li.map((x) => x.textContent));
      assertEq(items, [`"é" ${text(ja, 'paste.untyped_at', { code: 'U+00E9', position: 4 })}`,
        `"ü" ${text(ja, 'paste.untyped_at', { code: 'U+00FC', position: 5 })}`], 'untyped characters');
      const done = await page.textContent('#paste-done');
      const strokes = await page.$eval('#paste-bar', (b) => b.max);
      assertEq(done, text(ja, 'paste.done', { count: strokes }), 'done message');
      assertEq(await page.textContent('#paste-count'), text(ja, 'paste.progress', { typed: strokes, total: strokes }),
        'progress count');
      await page.click('#paste-close');

      // The Mouse menu: the jiggler's idle time as Intl writes a minute in Japanese.
      await page.click('#mb-mouse');
      assertEq(await page.textContent('#mb-mouse'), text(ja, 'mouse.menu'), 'Mouse menu button');
      const minute = await page.evaluate(() => {
        const D = /** @type {any} */ (Intl).DurationFormat;
        return D ? new D('ja', { style: 'short' }).format({ minutes: 1 })
          : new Intl.NumberFormat('ja', { style: 'unit', unit: 'minute', unitDisplay: 'short' }).format(1);
      });
      const jiggler = await page.textContent('label:has(#jiggler)');
      assertEq(jiggler.trim(), `${text(ja, 'mouse.jiggler')} ${text(ja, 'mouse.jiggler_note', { duration: minute })}`,
        'jiggler item');
      const relative = await page.textContent('label:has(#mouse-rel)');
      assertEq(relative.trim(), `${text(ja, 'mouse.relative')} ${text(ja, 'mouse.relative_note')}`, 'relative mode item');
      checkClean(page);
    },
  },
  {
    name: 'English browser keeps the us default; a layout chosen in the browser wins over its language',
    timeout: 60,
    async fn(env) {
      const en = catalog(env, 'en');
      {
        const { context, page } = await openPage(env.browser, { context: { locale: 'en-US' } });
        await loginUi(page, env.demo);
        assertEq(await page.getAttribute('html', 'lang'), 'en', 'the page language');
        assertEq(await layoutValue(page), 'us', 'target layout with no choice saved');
        await page.click('#mb-keyboard');
        assertEq(await page.textContent('#mb-keyboard'), 'Keyboard', 'Keyboard menu button');
        await page.click('#btn-osk');
        await page.waitForSelector('#osk:not([hidden])');
        assertEq(await page.textContent('#osk-title'), 'On-screen keyboard · US English', 'OSK title');
        assertEq(await page.textContent('#osk .osk-key[data-code="CapsLock"]'), text(en, 'osk.key.caps'), 'Caps legend');
        // The choice is kept in this browser.
        await page.click('#mb-keyboard');
        await page.selectOption('#kb-layout', 'jp');
        assertEq(await page.evaluate(() => localStorage.getItem('ipkvm.layout')), 'jp', 'saved choice');
        await page.reload();
        await page.waitForSelector('#conn.conn-connected');
        assertEq(await layoutValue(page), 'jp', 'the saved layout after a reload');
        assertEq(await page.textContent('#osk-title'), 'On-screen keyboard · Japanese (JIS)', 'OSK title for jp');
        assertEq(await page.textContent('#osk .osk-key[data-code="NonConvert"]'), text(en, 'osk.key.muhenkan'),
          'English name of a JIS key');
        checkClean(page);
        await context.close();
      }
      {
        // A Japanese browser where another layout was chosen: the choice wins.
        const { page } = await openPage(env.browser, { context: { locale: 'ja-JP' } });
        await loginUi(page, env.demo);
        assertEq(await layoutValue(page), 'jp', 'the Japanese default');
        await page.click('#mb-keyboard');
        await page.selectOption('#kb-layout', 'de');
        await page.reload();
        await page.waitForSelector('#conn.conn-connected');
        assertEq(await layoutValue(page), 'de', 'the saved layout wins over the language');
        assertEq(await page.$eval('#paste-layout', (s) => s.value), 'de', 'the paste dialog follows it');
        checkClean(page);
      }
    },
  },
  {
    name: 'Virtual media menu in Japanese: sizes, dates and states through Intl',
    timeout: 60,
    async fn(env) {
      const ja = catalog(env, 'ja');
      const d = await env.startDaemon('[target]\nautoboot = 0\n');
      const api = await d.admin();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipkvm-e2e-i18n-'));
      const file = path.join(dir, 'メディア.img');
      fs.writeFileSync(file, Buffer.alloc(1_500_000, 0x55)); // 1.5 MB
      try {
        const { page } = await openPage(env.browser, { context: { locale: 'ja-JP' } });
        await loginUi(page, d);
        assertEq(await page.textContent('#mb-msd'), text(ja, 'msd.menu'), 'menu button');
        await page.click('#mb-msd');
        const headings = await page.$$eval('#menu-msd .menu-heading', (h) => h.map((x) => x.textContent));
        assertEq(headings, [text(ja, 'msd.drives'), text(ja, 'msd.images'), text(ja, 'msd.upload_heading'),
          text(ja, 'msd.download_heading')], 'headings');
        await waitFor('drive 0 listed as empty', async () =>
          (await page.textContent('#msd-drives')).includes(text(ja, 'msd.drive_empty', { lun: 0 })));
        assertEq(await page.getAttribute('#msd-sha256', 'placeholder'), text(ja, 'msd.sha256_placeholder'), 'placeholder');

        await page.setInputFiles('#msd-file', file);
        await page.click('#msd-upload');
        const name = 'メディア.img';
        const row = page.locator(`#msd-images [data-image="${name}"]`);
        await waitFor('the uploaded image in the list', async () => (await row.locator('[data-attach="cd"]').count()) > 0,
          20000);
        await waitFor('the upload toast', async () =>
          (await page.textContent('#toasts')).includes(text(ja, 'msd.uploaded', { name })));
        // The size as ja-JP's Intl writes 1.5 megabytes.
        const size = await page.evaluate(() =>
          new Intl.NumberFormat('ja', { style: 'unit', unit: 'megabyte', unitDisplay: 'short', maximumFractionDigits: 1 })
            .format(1.5));
        assertEq(await row.locator('.msd-size').textContent(), size, 'image size');
        const listed = (await api.get('/api/msd')).images.find((i) => i.name === name);
        const date = await page.evaluate((ms) =>
          new Intl.DateTimeFormat('ja', { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(ms)), listed.mtime * 1000);
        assertEq(await row.locator('.msd-name').getAttribute('title'), text(ja, 'msd.stored_at', { date }), 'stored date');
        assertEq(await row.locator('[data-attach="cd"]').textContent(), text(ja, 'msd.attach_cd'), 'attach button');

        // The status line: the count and the free space, as the device reports it now.
        await waitFor('the status line in Japanese', async () => {
          const free = (await api.get('/api/msd')).space.free;
          const freeText = await page.evaluate((n) => {
            const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'];
            let v = n;
            let i = 0;
            while (v >= 1000 && i < units.length - 1) {
              v /= 1000;
              i++;
            }
            return new Intl.NumberFormat('ja', { style: 'unit', unit: units[i], unitDisplay: 'short',
              maximumFractionDigits: v >= 100 || i === 0 ? 0 : 1 }).format(v);
          }, free);
          return (await page.textContent('#msd-status')) === text(ja, 'msd.status', { count: 1, free: freeText });
        });

        await row.locator('[data-attach="cd"]').click();
        await waitFor('the drive list to show the image as a CD-ROM', async () =>
          (await page.textContent('#msd-drives')).includes(
            text(ja, 'msd.drive', { lun: 0, image: name, kind: text(ja, 'msd.kind.cdrom') })));
        assertEq(await row.locator('.badge').textContent(), text(ja, 'msd.attached'), 'attached badge');
        assertEq(await page.textContent('#msd-drives [data-drive="0"]'), text(ja, 'msd.eject'), 'eject button');

        // A download refused up front: the Japanese message, never an English sentence.
        await page.fill('#msd-url', 'ftp://example.invalid/x.iso');
        await page.click('#msd-fetch');
        await waitFor('the bad URL message', async () => (await page.textContent('#toasts')).includes(text(ja, 'msd.bad_url')));
        await env.shot(page, 'i18n-msd-ja');
        checkClean(page);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  },
];
