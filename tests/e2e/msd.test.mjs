/*
 * msd.test.mjs — virtual media in the browser (issue 7): an ISO made here is uploaded
 * through the Virtual media menu (XHR progress), attached as a CD-ROM, the target is powered on
 * from the Power menu, and its firmware's boot menu shows the image's volume label.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assert, checkClean, loginUi, openPage, waitFor } from './harness.mjs';

/* A small ISO 9660 image (320 sectors: the kernel's smallest CD-ROM is 300) whose primary
 * volume descriptor carries label. */
function isoImage(label, sectors = 320) {
  const img = Buffer.alloc(2048 * sectors);
  const pvd = 16 * 2048;
  img[pvd] = 1;
  img.write('CD001', pvd + 1, 'ascii');
  img[pvd + 6] = 1;
  img.write(label.padEnd(32, ' '), pvd + 40, 'ascii');
  const term = 17 * 2048;
  img[term] = 255;
  img.write('CD001', term + 1, 'ascii');
  img[term + 6] = 1;
  return img;
}

export const tests = [
  {
    name: 'Virtual media menu uploads an ISO with progress and attaches it; the target boots to its label',
    timeout: 60,
    async fn(env) {
      const d = await env.startDaemon('[target]\nautoboot = 0\n');
      const api = await d.admin();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipkvm-e2e-iso-'));
      const file = path.join(dir, 'e2e-live.iso');
      fs.writeFileSync(file, isoImage('E2E LIVE'));
      try {
        const { page } = await openPage(env.browser);
        await loginUi(page, d);
        await page.waitForSelector('#conn.conn-connected');
        await page.click('#mb-msd');
        await waitFor('the Virtual media menu to read the store', async () =>
          /free/.test(await page.textContent('#msd-status')));
        await page.setInputFiles('#msd-file', file);
        await page.click('#msd-upload');
        const row = page.locator('#msd-images [data-image="e2e-live.iso"]');
        // The list shows the image while it is written, then complete (with attach buttons).
        await waitFor('the uploaded image in the list', async () =>
          (await row.locator('[data-attach="cd"]').count()) > 0, 20000);
        const loaded = await waitFor('the upload progress to reach the end', async () => {
          const v = await page.getAttribute('#msd-upload-progress', 'data-loaded');
          return Number(v) === 320 * 2048 ? v : null;
        }, 5000);
        assert(Number(loaded) === 320 * 2048, `upload progress reached ${loaded} bytes`);
        const listed = (await api.get('/api/msd')).images.find((i) => i.name === 'e2e-live.iso');
        assert(listed && listed.complete && listed.size === 320 * 2048, `stored: ${JSON.stringify(listed)}`);
        await env.shot(page, 'msd-menu');

        await row.locator('[data-attach="cd"]').click();
        await waitFor('drive 0 to hold the image', async () =>
          (await api.get('/api/msd')).drives[0].image === 'e2e-live.iso');
        await waitFor('the drive list to show it', async () =>
          (await page.textContent('#msd-drives')).includes('e2e-live.iso (CD-ROM)'));

        await page.click('#mb-power');
        await page.click('#atx-on');
        await waitFor('the firmware', async () => (await api.get('/api/target')).phase === 'firmware', 15000);
        await api.post('/api/hid/key', { code: 'ArrowRight', state: 'tap' }); // the Boot page
        const t = await waitFor('the label in the boot menu', async () => {
          const s = await api.get('/api/target');
          return s.rows.some((r) => r.includes('e2e-live.iso') && r.includes('E2E LIVE')) ? s : null;
        }, 10000);
        assert(t.media.some((m) => m.name === 'e2e-live.iso' && m.lun === 0), `target media: ${JSON.stringify(t.media)}`);
        checkClean(page);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  },
];
