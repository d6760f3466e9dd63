/*
 * strips.test.mjs — strip-parallel JPEG (issue 17): a JPEG joined from strips with restart
 * markers shows in Chromium exactly as the single-piece JPEG of the same frame; the browser
 * decodes both and every pixel (getImageData) must be equal.
 * - From the daemon: two daemons on the same still pattern, one cutting frames into strips
 *   and one encoding them whole, give their snapshot. (The still pattern is the test card's
 *   vertical colour bars, so it shows the daemon's real output decodes, not strip order.)
 * - From the encoder: tests/tools/strip-jpeg writes a frame of the pattern's desktop and test
 *   card scenes (windows, text, a clock: different in every strip) both ways, at odd sizes.
 */

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { assert, assertEq, openPage, waitFor } from './harness.mjs';

/* The markers of a JPEG: restart markers (FF D0..D7) in the scan, and whether it has a DRI. */
function markers(buf) {
  let p = 2;
  let dri = 0;
  while (p + 4 <= buf.length && buf[p] === 0xff && buf[p + 1] !== 0xda) {
    if (buf[p + 1] === 0xdd) dri = buf.readUInt16BE(p + 4);
    p += 2 + buf.readUInt16BE(p + 2);
  }
  const rst = [];
  for (; p + 1 < buf.length; p += 1) {
    if (buf[p] === 0xff && buf[p + 1] >= 0xd0 && buf[p + 1] <= 0xd7) rst.push(buf[p + 1] - 0xd0);
  }
  return { dri, rst };
}

async function snapshot(daemon) {
  const api = await daemon.admin();
  return waitFor('a snapshot of the pattern', async () => {
    const { status, body } = await api.request('GET', '/api/streamer/snapshot');
    return status === 200 && Buffer.isBuffer(body) && body[0] === 0xff && body[1] === 0xd8 ? body : null;
  }, 15000, 200);
}

/* Decodes each JPEG in the page (an <img> of a blob URL, drawn on a canvas) and returns, for
 * each, its size and the number of pixels that differ from the first one's. */
async function decodeAndCompare(page, jpegs) {
  return page.evaluate(async (b64s) => {
    const decoded = [];
    for (const b64 of b64s) {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const url = URL.createObjectURL(new Blob([bytes], { type: 'image/jpeg' }));
      const img = new Image();
      img.src = url;
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const ctx = canvas.getContext('2d', { willReadFrequently: true });
      ctx.drawImage(img, 0, 0);
      decoded.push({ w: canvas.width, h: canvas.height, px: ctx.getImageData(0, 0, canvas.width, canvas.height).data });
      URL.revokeObjectURL(url);
    }
    const ref = decoded[0].px;
    let distinct = 0; // a picture, not a flat field: the comparison means something
    for (let i = 4; i < ref.length; i += 4 * 97) if (ref[i] !== ref[0] || ref[i + 1] !== ref[1]) distinct += 1;
    return decoded.map((d) => {
      let diff = 0;
      if (d.px.length === ref.length) {
        for (let i = 0; i < ref.length; i += 4) {
          if (d.px[i] !== ref[i] || d.px[i + 1] !== ref[i + 1] || d.px[i + 2] !== ref[i + 2]) diff += 1;
        }
      } else {
        diff = -1;
      }
      return { w: d.w, h: d.h, diff, distinct };
    });
  }, jpegs.map((b) => b.toString('base64')));
}

function cases() {
  return [
    // 1080 rows of 4:2:2 in 4 strips: 34 MCU rows each, the last 33 (shorter)
    { size: [1920, 1080], subsampling: '422', strips: 4, rst: [0, 1, 2] },
    // 1024 rows of 4:2:0 in 3 strips: 22, 22 and 20 MCU rows
    { size: [1280, 1024], subsampling: '420', strips: 3, rst: [0, 1] },
  ];
}

/* Frames written by tests/tools/strip-jpeg: scene, size, subsampling, strips asked for, frame
 * number, and the strips the plan makes (the last shorter in every case). */
const toolCases = [
  { scene: 'desktop', size: [1366, 767], subsampling: '420', strips: 5, skip: 20, made: 5 },
  { scene: 'testcard', size: [1280, 1024], subsampling: '422', strips: 8, skip: 3, made: 8 },
  { scene: 'desktop', size: [1920, 1080], subsampling: '422', strips: 2, skip: 40, made: 2 },
  { scene: 'testcard', size: [1366, 768], subsampling: '420', strips: 7, skip: 0, made: 7 },
];

const toolTest = {
  name: 'strip JPEGs of pattern frames (desktop, test card; odd sizes; 2 to 8 strips) decode in Chromium to the single-piece JPEGs\' pixels',
  timeout: 90,
  async fn(env) {
    const tool = path.join(path.dirname(env.ipkvmd), 'tests', 'tools', 'strip-jpeg');
    assert(fs.existsSync(tool), `${tool} is not built`);
    const { page } = await openPage(env.browser);
    await page.goto(`${env.demo.origin}/login`); // any page: the images come as blobs
    for (const c of toolCases) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipkvm-e2e-strips-'));
      try {
        const out = execFileSync(tool, [c.scene, String(c.size[0]), String(c.size[1]), c.subsampling,
          String(c.strips), String(c.skip), dir], { encoding: 'utf8', timeout: 30000 });
        const what = `${c.scene} ${c.size.join('x')} ${c.subsampling} in ${c.strips} strips`;
        assert(out.startsWith(`${c.made} strips of `), `${what}: ${out.trim()}`);
        const whole = fs.readFileSync(path.join(dir, 'whole.jpg'));
        const strips = fs.readFileSync(path.join(dir, 'strips.jpg'));
        assertEq(markers(strips).rst, [...Array(c.made - 1).keys()].map((i) => i % 8), `${what}: restart markers`);
        assertEq(markers(whole).rst, [], `${what}: restart markers of the single-piece JPEG`);
        const [ra, rb] = await decodeAndCompare(page, [whole, strips]);
        assertEq([ra.w, ra.h, rb.w, rb.h], [...c.size, ...c.size], `${what}: sizes`);
        assert(ra.distinct > 100, `${what}: the picture has detail (${ra.distinct})`);
        assertEq(rb.diff, 0, `${what}: pixels that differ from the single-piece JPEG`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  },
};

export const tests = [toolTest, ...cases().map((c) => ({
  name: `strip JPEG (${c.strips} strips, ${c.size.join('x')} ${c.subsampling}) decodes in Chromium to the single-piece JPEG's pixels`,
  timeout: 60,
  async fn(env) {
    const conf = (strips) => `[video]\nsource = pattern\nscene = static\nwidth = ${c.size[0]}\n`
      + `height = ${c.size[1]}\n[jpeg]\nworkers = 2\nstrips = ${strips}\nsubsampling = ${c.subsampling}\n`;
    const [cut, whole] = await Promise.all([env.startDaemon(conf(c.strips)), env.startDaemon(conf(1))]);
    const [a, b] = await Promise.all([snapshot(cut), snapshot(whole)]);
    const [sa, sb] = await Promise.all([cut, whole].map(async (d) => (await d.admin()).get('/api/streamer')));
    assertEq([sa.strips, sa.workers, sb.strips], [c.strips, 2, 1], 'strips and workers in /api/streamer');
    const ma = markers(a);
    const mb = markers(b);
    assertEq(ma.rst, c.rst, 'restart markers of the strip JPEG');
    assert(ma.dri > 0, 'the strip JPEG has a restart interval');
    assertEq(mb.rst, [], 'restart markers of the single-piece JPEG');
    assertEq(mb.dri, 0, 'restart interval of the single-piece JPEG');
    assert(!a.equals(b), 'the two JPEGs are different bytes');

    const { page } = await openPage(env.browser);
    await page.goto(`${whole.origin}/login`); // any page: the images come as blobs
    const [ra, rb] = await decodeAndCompare(page, [b, a]);
    assertEq([ra.w, ra.h], c.size, 'size of the single-piece JPEG');
    assertEq([rb.w, rb.h], c.size, 'size of the strip JPEG');
    assert(ra.distinct > 100, `the pattern has detail (${ra.distinct} sampled pixels differ from the first)`);
    assertEq(rb.diff, 0, 'pixels of the strip JPEG that differ from the single-piece JPEG');
  },
}))];
