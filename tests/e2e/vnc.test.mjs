/*
 * vnc.test.mjs — VNC in the browser: Debian's noVNC, served by ipkvmd at /novnc/, connects to
 * /api/vnc/ws on the HTTPS port with the browser's session, shows the virtual target's screen
 * and types on it with real key presses.
 *
 * Each test runs its own daemon with [vnc] enabled (on a free port of 127.0.0.1, so daemons
 * never meet), logs in through the login page and opens noVNC's own page as a user would:
 * /novnc/vnc.html?path=api/vnc/ws&autoconnect=1&resize=off. What the target did comes from
 * GET /api/target; what noVNC shows is read from its canvas and compared with the daemon's
 * snapshot JPEG decoded in the same page.
 */

import fs from 'node:fs';
import path from 'node:path';
import { assert, assertEq, checkClean, freePort, loginUi, openPage, waitFor } from './harness.mjs';
import { ensureConsole, promptRow, target } from './console.test.mjs';

const NOVNC_PAGE = '/novnc/vnc.html?path=api/vnc/ws&autoconnect=1&resize=off';
/* A window larger than the target's 1920x1080, so the canvas holds the whole screen (noVNC
 * 1.3 clips to the window where there are no scrollbars to use, as in headless Chromium). */
const BIG = { width: 2000, height: 1200 };
/* Debian's noVNC 1.3 asks for its package.json (for the version it shows), which the package
 * does not ship: that 404 and noVNC's console message about it are expected. */
const DEBIAN_QUIRKS = [/novnc\/package\.json/, /Couldn't fetch package\.json/];
/* noVNC from npm (tests/e2e/package.json) is a library: its modules are served under the
 * daemon's origin by page.route (so its WebSocket is same-origin and carries the session),
 * and a module of ours drives it, loaded into a page the daemon itself served (Chromium's
 * local-network checks refuse a socket to 127.0.0.1 from a page that came from nowhere, as a
 * page made up by page.route does; the daemon's Content-Security-Policy allows same-origin
 * modules). */
const NPM_NOVNC = path.join(path.dirname(new URL(import.meta.url).pathname), 'node_modules', '@novnc', 'novnc');
const NPM_PREFIX = '/npm-novnc/';
const TYPES = { '.js': 'text/javascript', '.json': 'application/json' };
/* Ours: noVNC's RFB on a div of its own, every H.264 rectangle counted. */
const NPM_BOOT = `import RFB from './core/rfb.js';
import { supportsWebCodecsH264Decode } from './core/util/browser.js';
const screen = document.createElement('div');
screen.id = 'screen';
screen.style.width = '1920px';
screen.style.height = '1080px';
document.body.replaceChildren(screen);
window.h264Rects = 0;
window.h264Supported = supportsWebCodecsH264Decode;
const rfb = new RFB(screen, \`wss://\${location.host}/api/vnc/ws\`, {});
const h264 = rfb._decoders[50];
const decode = h264.decodeRect.bind(h264);
h264.decodeRect = (...args) => {
  const done = decode(...args);
  if (done) window.h264Rects += 1;
  return done;
};
rfb.addEventListener('connect', () => { window.vncConnected = true; });
rfb.addEventListener('disconnect', (e) => { window.vncDisconnected = e.detail; });
window.rfb = rfb;
`;

async function vncDaemon(env) {
  const port = await freePort();
  return env.startDaemon(`[vnc]\nenabled = 1\nlisten = 127.0.0.1\nport = ${port}\n`);
}

/* Opens noVNC's page (already logged in) and waits until it is connected and drawing. */
async function openNoVnc(page, d) {
  await page.goto(`${d.origin}${NOVNC_PAGE}`);
  await page.waitForSelector('html.noVNC_connected', { timeout: 15000 });
  await page.waitForFunction(() => {
    const c = document.querySelector('#noVNC_container canvas');
    return c && c.width > 0 && c.height > 0;
  }, null, { timeout: 15000 });
}

/*
 * How far noVNC's canvas is from the daemon's snapshot: both read in the page (the snapshot
 * fetched with the page's session, decoded by the browser), compared on a grid of samples.
 * Returns {width, height, mean, bad} (mean absolute difference per channel, and the share of
 * samples more than 48 apart in some channel).
 */
async function canvasVsSnapshot(page, selector = '#noVNC_container canvas') {
  return page.evaluate(async (sel) => {
    const c = document.querySelector(sel);
    const res = await fetch('/api/streamer/snapshot', { cache: 'no-store' });
    const bmp = await createImageBitmap(await res.blob());
    if (bmp.width !== c.width || bmp.height !== c.height) {
      return { width: c.width, height: c.height, snapshot: [bmp.width, bmp.height] };
    }
    const ref = document.createElement('canvas');
    ref.width = bmp.width;
    ref.height = bmp.height;
    const rg = ref.getContext('2d');
    rg.drawImage(bmp, 0, 0);
    const a = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const b = rg.getImageData(0, 0, ref.width, ref.height).data;
    let sum = 0;
    let n = 0;
    let bad = 0;
    for (let y = 3; y < c.height; y += 11) {
      for (let x = 5; x < c.width; x += 13) {
        const o = (y * c.width + x) * 4;
        let worst = 0;
        for (let k = 0; k < 3; k++) {
          const d = Math.abs(a[o + k] - b[o + k]);
          sum += d;
          worst = Math.max(worst, d);
        }
        n += 1;
        if (worst > 48) bad += 1;
      }
    }
    return { width: c.width, height: c.height, mean: sum / (3 * n), bad: bad / n, samples: n };
  }, selector);
}

/* Waits until noVNC's canvas matches the snapshot within a JPEG's (or H.264's) tolerance:
 * mean difference under `mean`, under `bad` of the samples far off. */
async function waitCanvasMatches(page, what, selector, mean, bad) {
  return waitFor(what, async () => {
    const r = await canvasVsSnapshot(page, selector);
    if (r.mean === undefined || r.mean >= mean || r.bad >= bad) throw new Error(`canvas vs snapshot: ${JSON.stringify(r)}`);
    return r;
  }, 15000, 300);
}

/* Brings the target to a fresh, empty prompt line (Caps Lock off). */
async function freshPrompt(api) {
  await ensureConsole(api);
  if ((await target(api)).leds.caps) await api.post('/api/hid/key', { code: 'CapsLock', state: 'tap' });
  await api.post('/api/hid/type', { text: 'clear\n' });
  return waitFor('a cleared screen', async () => {
    const t = await target(api);
    return t.cursor.row === 0 && promptRow(t).trimEnd() === 'user@target:~$' ? t : null;
  }, 15000, 100);
}

export const tests = [
  {
    name: "Debian's noVNC at /novnc/ shows the target and types echo vnc with real key presses",
    timeout: 90,
    async fn(env) {
      const d = await vncDaemon(env);
      const api = await d.admin();
      const t0 = await freshPrompt(api);
      const { page } = await openPage(env.browser, { viewport: BIG, allow: DEBIAN_QUIRKS });
      await loginUi(page, d);
      await openNoVnc(page, d);
      // The canvas is the target's screen: its size, and its pixels against the snapshot.
      const cmp = await waitCanvasMatches(page, 'the canvas to show the snapshot\'s picture', '#noVNC_container canvas', 6, 0.01);
      assertEq([cmp.width, cmp.height], [t0.mode.width, t0.mode.height], 'canvas size = the target\'s mode');
      await env.shot(page, 'novnc-connected');
      // Focus the canvas by clicking it, then type with the keyboard.
      await page.click('#noVNC_container canvas', { position: { x: 200, y: 300 } });
      await page.keyboard.type('echo vnc');
      await page.keyboard.press('Enter');
      const t = await waitFor('"echo vnc" run on the target', async () => {
        const s = await target(api);
        return s.rows.includes('user@target:~$ echo vnc') && s.rows.includes('vnc') ? s : null;
      }, 15000, 100);
      assertEq(t.rows.indexOf('vnc'), t.rows.indexOf('user@target:~$ echo vnc') + 1, 'the output line follows the command');
      // And noVNC shows it: the canvas follows the screen again.
      await waitCanvasMatches(page, 'the canvas to show the typed lines', '#noVNC_container canvas', 6, 0.01);
      await env.shot(page, 'novnc-echo-vnc');
      const status = await page.textContent('#noVNC_status');
      assert(!/fail|error/i.test(status || ''), `noVNC's status: ${status}`);
      checkClean(page);
    },
  },
  {
    name: 'noVNC as a viewer: the screen is there, the key presses do not reach the target',
    timeout: 90,
    async fn(env) {
      const d = await vncDaemon(env);
      const api = await d.admin();
      const t0 = await freshPrompt(api);
      const password = 'viewer password 1';
      await api.post('/api/users', { name: 'vera', password, role: 'viewer' });
      const { page } = await openPage(env.browser, { viewport: BIG, allow: DEBIAN_QUIRKS });
      await loginUi(page, d, 'vera', password);
      await openNoVnc(page, d);
      await waitCanvasMatches(page, 'the canvas to show the snapshot\'s picture', '#noVNC_container canvas', 6, 0.01);
      await page.click('#noVNC_container canvas', { position: { x: 200, y: 300 } });
      await page.keyboard.type('echo viewer');
      await page.keyboard.press('Enter');
      // The session received them and said it ignores a viewer's input (its log line is
      // the event to wait for); the target's prompt is still empty.
      await waitFor('the daemon to log the viewer\'s input as ignored', async () =>
        /vera: view-only: input ignored/.test(d.logTail(400)), 10000, 200);
      const t = await target(api);
      assertEq(promptRow(t).trimEnd(), 'user@target:~$', 'the prompt after the viewer typed');
      assertEq(t.cursor.row, t0.cursor.row, 'the cursor did not move');
      checkClean(page);
    },
  },
  {
    name: 'noVNC 1.7 from npm decodes the screen with Open H.264 and types echo h264vnc',
    timeout: 90,
    async fn(env) {
      const d = await vncDaemon(env);
      const api = await d.admin();
      const t0 = await freshPrompt(api);
      const { context, page } = await openPage(env.browser, { viewport: BIG });
      await context.route(`${d.origin}${NPM_PREFIX}**`, async (route) => {
        const rel = new URL(route.request().url()).pathname.slice(NPM_PREFIX.length);
        if (rel === 'boot.js') {
          await route.fulfill({ status: 200, contentType: 'text/javascript', body: NPM_BOOT });
          return;
        }
        const file = path.join(NPM_NOVNC, rel);
        if (!file.startsWith(`${NPM_NOVNC}/`) || !fs.existsSync(file)) {
          await route.fulfill({ status: 404, body: 'not here' });
          return;
        }
        await route.fulfill({ status: 200, contentType: TYPES[path.extname(file)] || 'application/octet-stream', body: fs.readFileSync(file) });
      });
      await loginUi(page, d);
      // A plain page of the daemon (the login page's document) hosts our module.
      await page.goto(`${d.origin}/login`);
      await page.addScriptTag({ url: `${NPM_PREFIX}boot.js`, type: 'module' });
      await page.waitForFunction(() => window.vncConnected === true || window.vncDisconnected, null, { timeout: 15000 });
      assert(await page.evaluate(() => window.vncConnected === true),
        `noVNC did not connect: ${JSON.stringify(await page.evaluate(() => window.vncDisconnected))}; page: ${page.problems.join('; ')}; daemon: ${d.logTail(8)}`);
      assert(await page.evaluate(() => window.h264Supported), 'this chromium decodes H.264 with WebCodecs');
      // The server offers Open H.264 and noVNC decodes it: rectangles arrive, and the
      // daemon's H.264 stage has a client.
      await waitFor('H.264 rectangles decoded by noVNC', async () => (await page.evaluate(() => window.h264Rects)) > 0, 15000, 200);
      const st = await api.get('/api/streamer');
      assert(st.h264 && st.h264.clients > 0, `H.264 clients on the device: ${JSON.stringify(st.h264)}`);
      const cmp = await waitCanvasMatches(page, 'the canvas to show the snapshot\'s picture', '#screen canvas', 8, 0.02);
      assertEq([cmp.width, cmp.height], [t0.mode.width, t0.mode.height], 'canvas size = the target\'s mode');
      const before = await page.evaluate(() => window.h264Rects);
      await page.click('#screen canvas', { position: { x: 200, y: 300 } });
      await page.keyboard.type('echo h264vnc');
      await page.keyboard.press('Enter');
      await waitFor('"echo h264vnc" run on the target', async () => {
        const s = await target(api);
        return s.rows.includes('user@target:~$ echo h264vnc') && s.rows.includes('h264vnc') ? s : null;
      }, 15000, 100);
      await waitCanvasMatches(page, 'the canvas to show the typed lines', '#screen canvas', 8, 0.02);
      assert((await page.evaluate(() => window.h264Rects)) > before, 'the change came as H.264');
      await env.shot(page, 'novnc-npm-h264');
      checkClean(page);
    },
  },
];
