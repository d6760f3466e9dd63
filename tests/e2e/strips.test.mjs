/*
 * strips.test.mjs — strip-parallel JPEG (issue 17): a JPEG joined from strips with restart
 * markers shows in Chromium exactly as the single-piece JPEG of the same frame. Two daemons
 * on the same still pattern, one cutting frames into strips and one encoding them whole, give
 * their snapshot; the browser decodes both and every pixel (getImageData) must be equal.
 */

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

export const tests = cases().map((c) => ({
  name: `strip JPEG (${c.strips} strips, ${c.size.join('x')} ${c.subsampling}) decodes in Chromium to the single-piece JPEG's pixels`,
  timeout: 60,
  async fn(env) {
    const conf = (strips) => `[video]\nsource = pattern\nscene = static\nwidth = ${c.size[0]}\n`
      + `height = ${c.size[1]}\n[jpeg]\nworkers = 2\nstrips = ${strips}\nsubsampling = ${c.subsampling}\n`;
    const [cut, whole] = await Promise.all([env.startDaemon(conf(c.strips)), env.startDaemon(conf(1))]);
    const [a, b] = await Promise.all([snapshot(cut), snapshot(whole)]);
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
}));
