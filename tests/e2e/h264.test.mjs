/*
 * h264.test.mjs — the console in H.264 mode (issue 8): Chromium decodes /api/streamer/h264 with
 * WebCodecs onto the screen's canvas; typing changes its pixels and the status bar shows the
 * codec and a measured latency. A page that draws slower than frames come draws only the
 * newest decoded frame (no pile-up behind the drawing).
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
  {
    name: 'H.264: a page that draws slowly draws the newest decoded frame, never a backlog',
    timeout: 60,
    async fn(env) {
      // A picture that changes every frame (60 fps), and a canvas whose drawImage of a
      // VideoFrame takes 100 ms: frames are decoded 6 times faster than they can be drawn.
      const d = await env.startDaemon('[video]\nsource = pattern\nscene = desktop\nfps = 60\n');
      const { context, page } = await openPage(env.browser);
      await context.addInitScript(() => {
        try {
          window.localStorage.setItem('ipkvm.codec', 'h264');
        } catch {
          /* the test fails below: no H.264 */
        }
        const rec = { outputs: [], draws: [], closedUndrawn: 0 };
        Object.defineProperty(window, '__slow', { value: rec });
        const VD = window.VideoDecoder;
        window.VideoDecoder = class extends VD {
          constructor(init) {
            super({ ...init, output: (frame) => {
              rec.outputs.push(frame.timestamp);
              init.output(frame);
            } });
          }
        };
        const VF = window.VideoFrame;
        const draw = CanvasRenderingContext2D.prototype.drawImage;
        CanvasRenderingContext2D.prototype.drawImage = function (...args) {
          if (args[0] instanceof VF) {
            rec.draws.push({ ts: args[0].timestamp, outputs: rec.outputs.length });
            const until = performance.now() + 100;
            while (performance.now() < until) { /* a slow machine */ }
          }
          return draw.apply(this, args);
        };
      });
      await loginUi(page, d);
      await waitFor('the codec in the status bar', async () => (await page.textContent('#codec')) === 'H.264', 15000);
      await waitFor('frames decoded and drawn', async () =>
        page.evaluate(() => window.__slow.outputs.length >= 120 && window.__slow.draws.length >= 5), 30000, 200);
      const r = await page.evaluate(() => ({ outputs: window.__slow.outputs.slice(), draws: window.__slow.draws.slice() }));
      // Each draw is of the newest frame decoded by then; frames decoded while a draw ran
      // were replaced by newer ones, not drawn one by one afterwards.
      assert(r.draws.length * 2 < r.outputs.length, `${r.draws.length} draws for ${r.outputs.length} decoded frames: every frame drawn`);
      for (const dr of r.draws) {
        assertEq(dr.ts, r.outputs[dr.outputs - 1], `the frame drawn after ${dr.outputs} decoded frames is the newest of them`);
      }
      const ts = r.draws.map((dr) => dr.ts);
      assert(ts.every((t, i) => i === 0 || t > ts[i - 1]), `draws in order: ${ts.join(' ')}`);
      checkClean(page);
    },
  },
];
