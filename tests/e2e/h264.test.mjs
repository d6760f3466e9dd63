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
    name: 'H.264: a page that draws slowly draws the newest decoded frame; slow drawImage -> copyTo',
    timeout: 60,
    async fn(env) {
      // A picture that changes every frame (60 fps), and a canvas whose drawImage of a
      // VideoFrame and putImageData take 100 ms each: frames are decoded 6 times faster than
      // they can be drawn either way.
      const d = await env.startDaemon('[video]\nsource = pattern\nscene = desktop\nfps = 60\n');
      const { context, page } = await openPage(env.browser);
      await context.addInitScript(() => {
        try {
          window.localStorage.setItem('ipkvm.codec', 'h264');
        } catch {
          /* the test fails below: no H.264 */
        }
        const rec = { outputs: [], draws: [], images: 0, last: null, shown: null };
        Object.defineProperty(window, '__slow', { value: rec });
        const busy = () => {
          const until = performance.now() + 100;
          while (performance.now() < until) { /* a slow machine */ }
        };
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
            rec.draws.push({ how: 'drawImage', ts: args[0].timestamp, outputs: rec.outputs.length });
            busy();
          }
          return draw.apply(this, args);
        };
        const copyTo = VF.prototype.copyTo;
        VF.prototype.copyTo = function (...args) {
          rec.draws.push({ how: 'copyTo', ts: this.timestamp, outputs: rec.outputs.length });
          if (rec.last) rec.last.close();
          rec.last = this.clone(); // what the canvas should show after the put
          return copyTo.apply(this, args);
        };
        const put = CanvasRenderingContext2D.prototype.putImageData;
        CanvasRenderingContext2D.prototype.putImageData = function (...args) {
          busy();
          const r = put.apply(this, args);
          if (rec.shown) rec.shown.close();
          rec.shown = rec.last;
          rec.last = null;
          rec.images += 1;
          return r;
        };
        rec.drawImage = draw; // the browser's own, for the reference picture
      });
      await loginUi(page, d);
      await waitFor('the codec in the status bar', async () => (await page.textContent('#codec')) === 'H.264', 15000);
      await waitFor('frames decoded, then drawn by copyTo', async () =>
        page.evaluate(() => window.__slow.outputs.length >= 120 && window.__slow.images >= 3), 30000, 200);
      const r = await page.evaluate(() => ({ outputs: window.__slow.outputs.slice(), draws: window.__slow.draws.slice() }));
      // Three slow drawImage calls, then copyTo only.
      assertEq(r.draws.map((dr) => dr.how).slice(0, 4), ['drawImage', 'drawImage', 'drawImage', 'copyTo'], 'how frames were drawn');
      assert(r.draws.slice(3).every((dr) => dr.how === 'copyTo'), 'drawImage again after the switch to copyTo');
      // Each draw is of the newest frame decoded by then; frames decoded while a draw ran
      // were replaced by newer ones, not drawn one by one afterwards.
      assert(r.draws.length * 2 < r.outputs.length, `${r.draws.length} draws for ${r.outputs.length} decoded frames: every frame drawn`);
      for (const dr of r.draws) {
        assertEq(dr.ts, r.outputs[dr.outputs - 1], `the frame drawn after ${dr.outputs} decoded frames is the newest of them`);
      }
      const ts = r.draws.map((dr) => dr.ts);
      assert(ts.every((t, i) => i === 0 || t > ts[i - 1]), `draws in order: ${ts.join(' ')}`);
      // The canvas shows the last frame put, as the browser's drawImage draws it.
      const diff = await page.evaluate(() => {
        const rec = window.__slow;
        const canvas = /** @type {HTMLCanvasElement} */ (document.getElementById('screen-video'));
        const w = canvas.width;
        const h = canvas.height;
        const shown = canvas.getContext('2d').getImageData(0, 0, w, h).data;
        const ref = document.createElement('canvas');
        ref.width = w;
        ref.height = h;
        const g = ref.getContext('2d');
        rec.drawImage.call(g, rec.shown, 0, 0);
        const want = g.getImageData(0, 0, w, h).data;
        let sum = 0;
        let lit = 0;
        for (let i = 0; i < want.length; i += 4) {
          for (let c = 0; c < 3; c++) sum += Math.abs(shown[i + c] - want[i + c]);
          if (shown[i] + shown[i + 1] + shown[i + 2] > 48) lit++;
        }
        return { mean: sum / (w * h * 3), lit: lit / (w * h), w, h };
      });
      assertEq([diff.w, diff.h], [1920, 1080], 'canvas size');
      assert(diff.lit > 0.1, `the canvas is mostly black: ${JSON.stringify(diff)}`);
      assert(diff.mean < 2, `the picture put differs from drawImage's: mean difference ${diff.mean.toFixed(2)} per channel`);
      checkClean(page);
    },
  },
];
