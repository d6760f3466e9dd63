/*
 * h264.test.mjs — the console in H.264 mode (issue 8): Chromium decodes /api/streamer/h264 with
 * WebCodecs onto the screen's canvas; typing changes its pixels and the status bar shows the
 * codec and a measured latency.
 */

import { assert, assertEq, checkClean, loginUi, openPage, sleep, waitFor } from './harness.mjs';
import { changedPixels, ensureConsole, pictureBox, promptRow, target, waitVideo } from './console.test.mjs';

export const tests = [
  {
    name: 'H.264 mode decodes the virtual target with WebCodecs; typing changes the canvas',
    timeout: 60,
    async fn(env) {
      const api = await env.demo.admin();
      await ensureConsole(api);
      const { page } = await openPage(env.browser);
      await loginUi(page, env.demo);
      await waitVideo(page);
      await page.click('#mb-video');
      await waitFor('the H.264 choice to be offered', async () =>
        !(await page.locator('#video-codec option[value="h264"]').isDisabled()), 10000);
      await page.selectOption('#video-codec', 'h264');
      await page.keyboard.press('Escape');
      await waitFor('the codec in the status bar', async () => (await page.textContent('#codec')) === 'H.264');
      await waitFor('H.264 clients on the device', async () => {
        const st = await api.get('/api/streamer');
        return st.h264 && st.h264.clients > 0 && st.h264.keyframes > 0;
      }, 10000);
      await page.focus('#screen');
      await waitFor('input captured', async () => (await page.getAttribute('#capture', 'data-state')) === 'keyboard');
      // Earlier tests share this target: start from a fresh prompt with Caps Lock off.
      if ((await target(api)).leds.caps) await api.post('/api/hid/key', { code: 'CapsLock', state: 'tap' });
      await api.post('/api/hid/key', { code: 'Enter', state: 'tap' });
      await waitFor('a fresh prompt', async () => promptRow(await target(api)).trimEnd() === 'user@target:~$', 10000, 100);
      await sleep(800);
      const box = await pictureBox(page, 1920, 1080);
      const before = await page.screenshot();
      await page.keyboard.type('echo h264');
      const t = await waitFor('the text on the target', async () => {
        const s = await target(api);
        return promptRow(s) === 'user@target:~$ echo h264' ? s : null;
      }, 10000, 100);
      const H = t.mode.height;
      const rows = {
        x: box.left,
        y: box.top + ((t.cell.y0 + t.cursor.row * t.cell.h) / H) * box.height,
        width: box.width,
        height: (t.cell.h / H) * box.height,
      };
      const changed = await waitFor('changed pixels where the text is', async () => {
        const n = await changedPixels(page, before, await page.screenshot(), rows);
        return n > 50 ? n : 0;
      }, 10000, 300);
      assert(changed > 50, `changed pixels: ${changed}`);
      const latency = await waitFor('a measured latency', async () => {
        const text = await page.textContent('#latency');
        return /^\d+ ms$/.test(text) ? text : null;
      }, 5000, 200);
      assert(parseInt(latency, 10) < 5000, `latency ${latency}`);
      assertEq(await page.textContent('#codec'), 'H.264', 'codec in the status bar');
      await env.shot(page, 'console-h264');
      // Back to MJPEG for the tests after this one (the choice is kept per browser).
      await page.click('#mb-video');
      await page.selectOption('#video-codec', 'mjpeg');
      checkClean(page);
    },
  },
];
