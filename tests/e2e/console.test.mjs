/*
 * console.test.mjs — the browser tests of the operator console (issue 6), against ipkvmd in
 * the demo configuration with the built-in virtual target.
 *
 * Each test gets a fresh browser context and fails on any console error, page error or
 * HTTP error response it did not expect (checkClean). The target's own view of what
 * happened comes from GET /api/target (admin), never from the page.
 */

import fs from 'node:fs';
import { assert, assertEq, checkClean, loginUi, openPage, sleep, waitFor } from './harness.mjs';

/* ---- helpers on the virtual target ----------------------------------------------------- */

export async function target(api) {
  return api.get('/api/target');
}

/* Powers the target on (if it is off) and waits for its text console with an empty
 * prompt line at the bottom, clearing the screen first so rows are easy to read. */
export async function ensureConsole(api) {
  let t = await target(api);
  if (t.power === 'off') {
    await api.post('/api/atx/click', { button: 'power' });
  }
  t = await waitFor('the target to boot to its console', async () => {
    const s = await target(api);
    return s.phase === 'console' ? s : null;
  }, 20000, 200);
  return t;
}

export function promptRow(t) {
  return t.rows[t.cursor.row];
}

/* Where the picture's pixels are inside the <img> (object-fit: contain), computed here
 * independently of the page's own code. */
export async function pictureBox(page, w, h) {
  const r = await page.locator('#screen-video').boundingBox();
  const scale = Math.min(r.width / w, r.height / h);
  const width = w * scale;
  const height = h * scale;
  return { left: r.x + (r.width - width) / 2, top: r.y + (r.height - height) / 2, width, height, img: r };
}

/* Counts pixels that differ between two PNG screenshots inside a rectangle. */
export async function changedPixels(page, before, after, rect) {
  return page.evaluate(async ({ a, b, rect: q }) => {
    const load = async (b64) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.width;
      c.height = img.height;
      const g = c.getContext('2d');
      g.drawImage(img, 0, 0);
      return g.getImageData(Math.round(q.x), Math.round(q.y), Math.round(q.width), Math.round(q.height)).data;
    };
    const pa = await load(a);
    const pb = await load(b);
    let n = 0;
    for (let i = 0; i < pa.length; i += 4) {
      if (Math.abs(pa[i] - pb[i]) + Math.abs(pa[i + 1] - pb[i + 1]) + Math.abs(pa[i + 2] - pb[i + 2]) > 30) n += 1;
    }
    return n;
  }, { a: before.toString('base64'), b: after.toString('base64'), rect });
}

export async function waitVideo(page) {
  await page.waitForFunction(() => {
    const img = document.getElementById('screen-video');
    return img && !img.hidden && Number(img.dataset.width) > 0; // a picture is shown
  }, null, { timeout: 15000 });
}

/* ---- tests ---------------------------------------------------------------------------- */

export const tests = [
  {
    name: 'login page signs in with the generated admin password',
    timeout: 30,
    async fn(env) {
      const { page } = await openPage(env.browser);
      await page.goto(`${env.demo.origin}/login`);
      await page.waitForSelector('#login-submit:not([disabled])');
      await env.shot(page, 'login');
      await loginUi(page, env.demo);
      await waitFor('the user badge', () => page.isVisible('#user'));
      assertEq(await page.textContent('#user-name'), 'admin', 'user name in the top bar');
      assertEq(await page.textContent('#role-badge'), 'admin', 'role badge');
      checkClean(page);
    },
  },
  {
    name: 'opening the console without a session leads through the login back to it',
    timeout: 30,
    async fn(env) {
      // Today the server answers a page without a session with 401 and a small page that
      // moves on to /login (and the browser then asks for /favicon.ico, 401 too); those
      // two answers are expected here.
      const origin = env.demo.origin.replace(/[.]/g, '\\.');
      const { page } = await openPage(env.browser, {
        allow: [new RegExp(`(HTTP 401 GET |status of 401 .*\\()${origin}/(favicon\\.ico)?\\)?$`)],
      });
      await page.goto(`${env.demo.origin}/`);
      await page.waitForURL(`${env.demo.origin}/login?next=/`);
      await page.fill('#user', 'admin');
      await page.fill('#password', env.demo.password);
      await page.click('#login-submit');
      await page.waitForURL(`${env.demo.origin}/`);
      await page.waitForSelector('#conn.conn-connected');
      checkClean(page);
    },
  },
  {
    name: 'wrong password shows an error and stays on the login page',
    timeout: 30,
    async fn(env) {
      // The 401 answer to the wrong password is the one error response this flow expects.
      const { page } = await openPage(env.browser, {
        allow: [/status of 401/, /HTTP 401 POST .*\/api\/auth\/login$/],
      });
      await page.goto(`${env.demo.origin}/login`);
      await page.fill('#user', 'admin');
      await page.fill('#password', 'certainly not the password');
      await page.click('#login-submit');
      await page.waitForSelector('#login-error:not([hidden])');
      const text = await page.textContent('#login-error');
      assert(/wrong user name, password or code/i.test(text), `error text: ${text}`);
      assert(page.url().startsWith(`${env.demo.origin}/login`), `still on the login page: ${page.url()}`);
      await env.shot(page, 'login-wrong-password');
      checkClean(page);
    },
  },
  {
    name: 'console shows the video and the status bar without errors',
    timeout: 40,
    async fn(env) {
      const { page } = await openPage(env.browser);
      await loginUi(page, env.demo);
      await waitVideo(page);
      await waitFor('the signal state in the status bar', async () => (await page.getAttribute('#signal', 'data-state')) !== 'none');
      await sleep(1500); // let a few frames and a streamer event arrive
      await env.shot(page, 'console');
      checkClean(page);
    },
  },
  {
    name: 'power on the virtual target from the Power menu',
    timeout: 60,
    async fn(env) {
      const api = await env.demo.admin();
      // The console offers power control only where the device says it has it.
      const info = await api.get('/api/info');
      const atx = await api.get('/api/atx');
      assertEq(info.backends.atx, atx.driver, 'GET /api/info backends.atx (the ATX driver of GET /api/atx)');
      const t0 = await target(api);
      if (t0.power !== 'off') {
        await api.post('/api/atx/power', { action: 'off_hard' });
        await waitFor('the target to be off', async () => (await target(api)).power === 'off', 15000, 200);
      }
      const { page } = await openPage(env.browser);
      await loginUi(page, env.demo);
      await page.click('#mb-power');
      await page.waitForSelector('#atx-on:not([disabled])');
      await page.click('#atx-on');
      await waitFor('the target to power on', async () => (await target(api)).power !== 'off', 15000, 200);
      await waitFor('the power LED in the Power menu', async () => {
        await page.click('#mb-power');
        const on = await page.getAttribute('#atx-led-power', 'data-on');
        await page.click('#mb-power');
        return on === 'true';
      }, 10000, 300);
      await waitFor('the console phase', async () => (await target(api)).phase === 'console', 20000, 200);
      checkClean(page);
    },
  },
  {
    name: 'typing echo hello with real key presses reaches the target and the picture',
    timeout: 60,
    async fn(env) {
      const api = await env.demo.admin();
      await ensureConsole(api);
      const { page } = await openPage(env.browser);
      await loginUi(page, env.demo);
      await waitVideo(page);
      await page.focus('#screen');
      await waitFor('input captured', async () => (await page.getAttribute('#capture', 'data-state')) === 'keyboard');
      await page.keyboard.type('clear');
      await page.keyboard.press('Enter');
      await waitFor('a cleared screen', async () => {
        const t = await target(api);
        return t.cursor.row === 0 && promptRow(t).trimEnd() === 'user@target:~$';
      }, 10000, 100);
      await sleep(800);
      const box = await pictureBox(page, 1920, 1080);
      const before = await page.screenshot();
      await page.keyboard.type('echo hello');
      await page.keyboard.press('Enter');
      const t = await waitFor('"hello" on the target', async () => {
        const s = await target(api);
        return s.rows.includes('user@target:~$ echo hello') && s.rows.includes('hello') ? s : null;
      }, 10000, 100);
      assertEq(t.rows.indexOf('hello'), t.rows.indexOf('user@target:~$ echo hello') + 1, 'the output line follows the command');
      // The picture shows it too: pixels change in the text rows of the command and its
      // output (row r covers target pixel rows y0 + r*h .. y0 + (r+1)*h - 1).
      const row = t.rows.indexOf('user@target:~$ echo hello');
      const H = t.mode.height;
      const rows = {
        x: box.left,
        y: box.top + ((t.cell.y0 + row * t.cell.h) / H) * box.height,
        width: box.width,
        height: ((2 * t.cell.h) / H) * box.height,
      };
      const changed = await waitFor('changed pixels in the video area where the text is', async () => {
        const after = await page.screenshot();
        const n = await changedPixels(page, before, after, rows);
        return n > 50 ? n : 0;
      }, 10000, 300);
      assert(changed > 50, `changed pixels: ${changed}`);
      // New pictures came: the status bar shows their measured capture-to-screen latency.
      const latency = await waitFor('a measured latency', async () => {
        const text = await page.textContent('#latency');
        return /^\d+ ms$/.test(text) ? text : null;
      }, 5000, 200);
      assert(parseInt(latency, 10) < 5000, `latency ${latency}`);
      await env.shot(page, 'console-echo-hello');
      checkClean(page);
    },
  },
  {
    name: 'paste dialog types a string exactly with the jp layout',
    timeout: 90,
    async fn(env) {
      const jp = await env.startDaemon('[target]\nlayout = jp\n');
      const api = await jp.admin();
      await ensureConsole(api);
      const { page } = await openPage(env.browser);
      await loginUi(page, jp);
      const text = 'echo "JIS: @[]{}\\|_^~=+*:;\'`<>?!#$%&()"';
      await page.click('#mb-keyboard');
      await page.click('#btn-paste');
      await page.waitForSelector('#paste-dialog[open]');
      await page.selectOption('#paste-layout', 'jp');
      await page.fill('#paste-text', text);
      await page.click('#paste-submit');
      await page.waitForSelector('#paste-done:not([hidden])', { timeout: 30000 });
      assert(await page.isHidden('#paste-untyped'), 'no untyped characters reported');
      const t = await waitFor('the text on the target', async () => {
        const s = await target(api);
        return s.rows.some((r) => r.includes('JIS:')) ? s : null;
      }, 10000, 100);
      assertEq(promptRow(t), `user@target:~$ ${text}`, 'the prompt line');
      await env.shot(page, 'console-paste-jp');
      checkClean(page);
    },
  },
  {
    name: 'a click on the letterboxed video lands on the mapped target pixel',
    timeout: 60,
    async fn(env) {
      const api = await env.demo.admin();
      const t0 = await ensureConsole(api);
      const { w, h } = { w: t0.mode.width, h: t0.mode.height };
      // A tall window: the 16:9 picture gets bars above and below.
      const { page } = await openPage(env.browser, { viewport: { width: 900, height: 1000 } });
      await loginUi(page, env.demo);
      await waitVideo(page);
      const box = await pictureBox(page, w, h);
      assert(box.top - box.img.y > 20, `the picture is letterboxed (bar ${box.top - box.img.y} px)`);
      for (const [fx, fy] of [[0.25, 0.3], [0.8, 0.75], [0.5, 0.5]]) {
        const cx = Math.round(box.left + fx * box.width);
        const cy = Math.round(box.top + fy * box.height);
        await page.mouse.click(cx, cy);
        const ex = Math.floor(((cx - box.left) / box.width) * w);
        const ey = Math.floor(((cy - box.top) / box.height) * h);
        await waitFor(`the pointer at (${ex}, ${ey})`, async () => {
          const p = (await target(api)).pointer;
          return Math.abs(p.x - ex) <= 1 && Math.abs(p.y - ey) <= 1 && p.buttons === 0 ? p : null;
        }, 5000, 100);
      }
      // Right and middle buttons reach the target as such (and the page keeps its menu).
      for (const [button, mask] of [['right', 2], ['middle', 4]]) {
        await page.mouse.down({ button });
        await waitFor(`the ${button} button held on the target`, async () => (await target(api)).pointer.buttons === mask, 5000, 100);
        await page.mouse.up({ button });
        await waitFor(`the ${button} button released`, async () => (await target(api)).pointer.buttons === 0, 5000, 100);
      }
      checkClean(page);
    },
  },
  {
    name: 'the Caps Lock light in the status bar follows the target',
    timeout: 60,
    async fn(env) {
      const api = await env.demo.admin();
      await ensureConsole(api);
      const { page } = await openPage(env.browser);
      await loginUi(page, env.demo);
      await page.focus('#screen');
      const capsOn = async () => (await target(api)).leds.caps;
      const ledOn = async () => (await page.getAttribute('#led-caps', 'data-on')) === 'true';
      const start = await capsOn();
      await waitFor('the status bar LED to match the target', async () => (await ledOn()) === start, 5000);
      await page.keyboard.press('CapsLock');
      await waitFor('Caps Lock to toggle on the target', async () => (await capsOn()) === !start, 5000);
      await waitFor('the status bar LED to follow', async () => (await ledOn()) === !start, 5000);
      await page.keyboard.press('CapsLock');
      await waitFor('Caps Lock to toggle back', async () => (await capsOn()) === start, 5000);
      await waitFor('the status bar LED to follow back', async () => (await ledOn()) === start, 5000);
      checkClean(page);
    },
  },
  {
    // input.js once carried a hand-made copy of the key list that lacked 39 of keymap.csv's
    // codes (media keys, Help, Copy, …): the browser dropped them. The list is generated now.
    name: 'keys once missing from the browser key list (media keys, Help, Copy) reach the device',
    timeout: 60,
    async fn(env) {
      const api = await env.demo.admin();
      await ensureConsole(api);
      const { page } = await openPage(env.browser);
      await loginUi(page, env.demo);
      await page.waitForSelector('#conn.conn-connected');
      await page.focus('#screen');
      const pressed = async () => (await api.get('/api/hid')).pressed;
      // Real key presses, where playwright's keyboard has the key.
      for (const code of ['AudioVolumeUp', 'MediaPlayPause', 'MediaTrackNext']) {
        await page.keyboard.down(code);
        await waitFor(`${code} held on the device`, async () => (await pressed()).includes(code), 5000);
        await page.keyboard.up(code);
        await waitFor(`${code} released on the device`, async () => !(await pressed()).includes(code), 5000);
      }
      // Keys playwright's keyboard lacks: the events a browser gives for them.
      for (const code of ['Help', 'Copy', 'NumpadParenLeft']) {
        const key = (type) => page.evaluate(([t, c]) => {
          document.getElementById('screen').dispatchEvent(new KeyboardEvent(t, { code: c, key: c, bubbles: true, cancelable: true }));
        }, [type, code]);
        await key('keydown');
        await waitFor(`${code} held on the device`, async () => (await pressed()).includes(code), 5000);
        await key('keyup');
        await waitFor(`${code} released on the device`, async () => !(await pressed()).includes(code), 5000);
      }
      assertEq(await pressed(), [], 'keys held on the target');
      checkClean(page);
    },
  },
  {
    name: 'a viewer sees the console read-only and cannot type',
    timeout: 60,
    async fn(env) {
      const api = await env.demo.admin();
      const pw = 'viewer password 1';
      const users = await api.get('/api/users');
      if (!users.users.some((u) => u.name === 'watcher')) {
        await api.post('/api/users', { name: 'watcher', password: pw, role: 'viewer' });
      }
      const before = await ensureConsole(api);
      const { page } = await openPage(env.browser);
      await loginUi(page, env.demo, 'watcher', pw);
      await page.waitForSelector('#view-only:not([hidden])');
      assertEq(await page.textContent('#role-badge'), 'view only', 'role badge');
      assertEq(await page.getAttribute('#capture', 'data-state'), 'view', 'input state');
      await page.click('#screen');
      await page.keyboard.type('nope');
      await page.keyboard.press('Enter');
      await sleep(700);
      const after = await target(api);
      assertEq(after.rows, before.rows, 'the target screen is unchanged');
      await page.click('#mb-power');
      assert(await page.isDisabled('#atx-on'), 'power actions are disabled for viewers');
      await page.click('#mb-keyboard');
      assert(await page.isDisabled('#btn-paste'), 'paste is disabled for viewers');
      await env.shot(page, 'console-viewer');
      checkClean(page);
    },
  },
  {
    name: 'on a tablet a tap clicks at the mapped target pixel',
    timeout: 60,
    async fn(env) {
      const api = await env.demo.admin();
      const t0 = await ensureConsole(api);
      const { page } = await openPage(env.browser, {
        viewport: { width: 768, height: 1024 },
        context: { hasTouch: true },
      });
      await loginUi(page, env.demo);
      await waitVideo(page);
      const box = await pictureBox(page, t0.mode.width, t0.mode.height);
      const cx = Math.round(box.left + 0.6 * box.width);
      const cy = Math.round(box.top + 0.4 * box.height);
      await page.touchscreen.tap(cx, cy);
      const ex = Math.floor(((cx - box.left) / box.width) * t0.mode.width);
      const ey = Math.floor(((cy - box.top) / box.height) * t0.mode.height);
      await waitFor(`the pointer at (${ex}, ${ey})`, async () => {
        const p = (await target(api)).pointer;
        return Math.abs(p.x - ex) <= 1 && Math.abs(p.y - ey) <= 1 ? p : null;
      }, 5000, 100);
      await env.shot(page, 'console-tablet');
      checkClean(page);
    },
  },
  {
    name: 'relative mouse locks the pointer; Ctrl+Alt+Shift releases it',
    timeout: 60,
    async fn(env) {
      const api = await env.demo.admin();
      await ensureConsole(api);
      const { page } = await openPage(env.browser);
      try {
        await loginUi(page, env.demo);
        await waitVideo(page);
        await page.click('#mb-mouse');
        await page.check('#mouse-rel');
        await waitFor('relative mode on the device', async () => (await api.get('/api/hid')).mouse_mode === 'relative');
        await page.waitForSelector('#screen.screen-relative'); // and in the page
        await page.keyboard.press('Escape');
        await page.mouse.move(640, 400);
        await page.mouse.down();
        await page.mouse.up();
        await waitFor('pointer lock', async () => (await page.getAttribute('#capture', 'data-state')) === 'pointer-lock')
          .catch(async (err) => {
            throw new Error(`${err.message}; messages: ${await page.textContent('#toasts')}`);
          });
        const p0 = (await target(api)).pointer;
        await page.mouse.move(690, 430, { steps: 5 });
        await waitFor('the target pointer to move by (50, 30)', async () => {
          const p = (await target(api)).pointer;
          return p.x === p0.x + 50 && p.y === p0.y + 30 ? p : null;
        }, 5000, 100);
        await page.keyboard.down('Control');
        await page.keyboard.down('Alt');
        await page.keyboard.down('Shift');
        await page.keyboard.up('Shift');
        await page.keyboard.up('Alt');
        await page.keyboard.up('Control');
        await waitFor('capture released', async () => (await page.getAttribute('#capture', 'data-state')) === 'off');
        assert(!(await page.evaluate(() => Boolean(document.pointerLockElement))), 'pointer lock left');
        assertEq((await api.get('/api/hid')).pressed, [], 'keys held on the target');
        checkClean(page);
      } finally {
        await api.post('/api/hid/mouse/mode', { mode: 'absolute' });
      }
    },
  },
  {
    name: 'on-screen keyboard types; paste lists characters the layout cannot type',
    timeout: 60,
    async fn(env) {
      const api = await env.demo.admin();
      await ensureConsole(api);
      const { page } = await openPage(env.browser);
      await loginUi(page, env.demo);
      await page.focus('#screen');
      await page.keyboard.type('clear');
      await page.keyboard.press('Enter');
      await page.click('#mb-keyboard');
      await page.click('#btn-osk');
      await page.waitForSelector('#osk:not([hidden])');
      await page.click('.osk-key[data-code="KeyL"]');
      await page.click('.osk-key[data-code="ShiftLeft"]'); // latches until the next key
      await page.click('.osk-key[data-code="KeyS"]');
      await waitFor('"lS" on the target', async () => promptRow(await target(api)).trimEnd() === 'user@target:~$ lS', 5000);
      await page.click('#mb-keyboard');
      await page.click('#btn-paste');
      await page.selectOption('#paste-layout', 'us');
      await page.fill('#paste-text', ' café');
      await page.click('#paste-submit');
      await page.waitForSelector('#paste-done:not([hidden])');
      const report = await page.textContent('#paste-untyped');
      assert(/1 character cannot be typed/.test(report) && report.includes('U+00E9') && report.includes('position 5'),
        `untyped report: ${report}`);
      await waitFor('the typable rest on the target', async () => promptRow(await target(api)).trimEnd() === 'user@target:~$ lS caf', 5000);
      assertEq((await api.get('/api/hid')).pressed, [], 'keys held on the target');
      checkClean(page);
    },
  },
  {
    name: 'Video menu: quality, frame rate, snapshot download, fullscreen; help overlay',
    timeout: 60,
    async fn(env) {
      const api = await env.demo.admin();
      const { page } = await openPage(env.browser);
      await loginUi(page, env.demo);
      await waitVideo(page);
      const before = await api.get('/api/streamer');
      try {
        await page.click('#mb-video');
        await page.selectOption('#video-quality', '50');
        await waitFor('quality 50 on the device', async () => (await api.get('/api/streamer')).quality === 50, 5000);
        await page.selectOption('#video-fps', '15');
        await waitFor('max fps 15 on the device', async () => (await api.get('/api/streamer')).max_fps === 15, 5000);
        const [download] = await Promise.all([
          page.waitForEvent('download'),
          page.click('#btn-snapshot'),
        ]);
        const file = await download.path();
        const head = fs.readFileSync(file).subarray(0, 3);
        assertEq([...head], [0xff, 0xd8, 0xff], 'the snapshot starts like a JPEG');
        assert(/\.jpg$/.test(download.suggestedFilename()), `file name ${download.suggestedFilename()}`);
        await page.click('#mb-video');
        await page.click('#btn-fullscreen');
        await waitFor('fullscreen with the keyboard captured', async () => page.evaluate(() => {
          const f = document.fullscreenElement;
          return Boolean(f) && f.id === 'workspace' && document.activeElement.id === 'screen';
        }), 5000);
        await page.evaluate(() => document.exitFullscreen());
        await page.waitForFunction(() => !document.fullscreenElement);
        await page.click('#btn-help');
        await page.waitForSelector('#help-dialog[open]');
        await page.keyboard.press('Escape');
        await page.waitForSelector('#help-dialog:not([open])', { state: 'attached' });
        await page.keyboard.press('Shift+Slash');
        await page.waitForSelector('#help-dialog[open]');
        assert((await page.textContent('#help-dialog')).includes('Ctrl'), 'help lists the shortcuts');
        await env.shot(page, 'console-help');
        await page.keyboard.press('Escape');
        checkClean(page);
      } finally {
        await api.post('/api/streamer/params', { quality: before.quality, max_fps: before.max_fps });
      }
    },
  },
  {
    name: 'a lost event connection is said in the status bar and comes back by itself',
    timeout: 90,
    async fn(env) {
      // Its own daemon: this one is frozen (SIGSTOP) for a while, so the browser's pings
      // go unanswered without TCP noticing, as on a dead network path.
      const d = await env.startDaemon();
      const { page } = await openPage(env.browser);
      await loginUi(page, d);
      d.proc.kill('SIGSTOP');
      try {
        await waitFor('the status bar to say the connection is lost', async () => {
          return /connection lost/.test(await page.textContent('#conn-text'));
        }, 40000, 200);
        await env.shot(page, 'console-reconnecting');
      } finally {
        d.proc.kill('SIGCONT');
      }
      await page.waitForSelector('#conn.conn-connected', { timeout: 40000 });
      assertEq(await page.textContent('#conn-text'), 'connected', 'status bar');
      checkClean(page);
    },
  },
  {
    name: 'logout returns to the login page',
    timeout: 30,
    async fn(env) {
      const { page } = await openPage(env.browser);
      await loginUi(page, env.demo);
      await page.click('#btn-logout');
      await page.waitForURL(`${env.demo.origin}/login`);
      await page.waitForSelector('#login-form');
      // The old session is gone: the console is not served any more.
      const res = await page.request.get(`${env.demo.origin}/api/info`);
      assertEq(res.status(), 401, 'GET /api/info after logout');
      checkClean(page);
    },
  },
];
