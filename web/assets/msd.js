// @ts-check
/*
 * msd.js — the Virtual media menu (msd: mass-storage device): the virtual media store and the drives the target sees.
 *
 * State comes from GET /api/msd and the `msd` event ({images, space, drives, fetches});
 * download progress from `msd_fetch` events. Uploads go straight to
 * PUT /api/msd/images/{name} with XMLHttpRequest (fetch() cannot report upload progress);
 * the device streams the body to disk, so even an 8 GB image is one request. The free space
 * is checked here first, so an image that cannot fit is refused at once rather than after
 * minutes of sending.
 *
 * The panel is built here, like every menu's (menus.js has the pattern).
 */

import { apiDelete, apiPost } from './api.js';
import { el, setText, describeError, toast, confirmAction } from './ui.js';
import { ServiceMenu } from './menus.js';

/**
 * GET /api/msd and the `msd` event.
 * @typedef {object} MsdState
 * @property {MsdImage[]} images
 * @property {{free: number}} space bytes
 * @property {MsdDrive[]} [drives]
 * @property {FetchStatus[]} [fetches]
 */
/** @typedef {{name: string, size: number, expected: number, complete: boolean, attached: boolean}} MsdImage */
/** @typedef {{lun: number, image: string | null, cdrom: boolean, rw: boolean}} MsdDrive */
/**
 * A download from a URL: the `msd_fetch` event.
 * @typedef {{id: number, name: string, state: string, bytes: number, total: number, error?: string}} FetchStatus
 */
/** @typedef {{xhr: XMLHttpRequest, name: string, sent: number, total: number, started: number}} Upload */

/**
 * @param {number | null | undefined} n
 * @returns {string}
 */
export function formatBytes(n) {
  if (n == null || n < 0) return '?';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

/** @param {string} name */
function imagePath(name) {
  return `/api/msd/images/${encodeURIComponent(name)}`;
}

/* A name for the store from a URL or a file name: its last path part, without a query. */
/** @param {string} url */
export function nameFromUrl(url) {
  try {
    const parts = new URL(url).pathname.split('/').filter(Boolean);
    return decodeURIComponent(parts[parts.length - 1] || '');
  } catch {
    return '';
  }
}

/** @extends {ServiceMenu<MsdState>} */
export class MsdMenu extends ServiceMenu {
  /** @param {{app: import('./app.js').App}} deps */
  constructor({ app }) {
    super({ id: 'msd', label: 'Virtual media', wide: true, path: '/api/msd', unreadable: 'Virtual media unavailable' });
    this.app = app;
    /** @type {Upload | null} */
    this.upload = null;
    /** @type {Map<number, FetchStatus>} */
    this.fetches = new Map();
    const panel = this.panel;
    this.drivesList = el('ul', { class: 'msd-list', id: 'msd-drives' });
    this.imagesList = el('ul', { class: 'msd-list', id: 'msd-images' });
    this.fileInput = el('input', { type: 'file', id: 'msd-file', class: 'msd-file' });
    this.uploadButton = el('button', { type: 'button', class: 'btn btn-small', id: 'msd-upload', text: 'Upload' });
    this.uploadProgress = el('progress', { id: 'msd-upload-progress', max: 1, value: 0, hidden: true });
    this.uploadText = el('span', { class: 'msd-progress-text', id: 'msd-upload-text' });
    this.uploadCancel = el('button', { type: 'button', class: 'btn-link', id: 'msd-upload-cancel', text: 'Cancel', hidden: true });
    this.urlInput = el('input', { type: 'url', id: 'msd-url', placeholder: 'https://…/image.iso', 'aria-label': 'Image URL' });
    this.nameInput = el('input', { type: 'text', id: 'msd-name', placeholder: 'name.iso', 'aria-label': 'Image name' });
    this.shaInput = el('input', { type: 'text', id: 'msd-sha256', placeholder: 'SHA-256 (optional)', 'aria-label': 'SHA-256 checksum' });
    this.fetchButton = el('button', { type: 'button', class: 'btn btn-small', id: 'msd-fetch', text: 'Download' });
    this.fetchList = el('ul', { class: 'msd-list', id: 'msd-fetches' });

    panel.append(
      el('h3', { class: 'menu-heading', text: 'Drives' }),
      this.drivesList,
      el('h3', { class: 'menu-heading', text: 'Images' }),
      this.imagesList,
      el('h3', { class: 'menu-heading', text: 'Upload an image' }),
      el('div', { class: 'msd-row' }, this.fileInput, this.uploadButton),
      el('div', { class: 'msd-row' }, this.uploadProgress, this.uploadText, this.uploadCancel),
      el('h3', { class: 'menu-heading', text: 'Download from a URL' }),
      el('div', { class: 'msd-form' }, this.urlInput, this.nameInput, this.shaInput, this.fetchButton),
      this.fetchList,
    );
    // Clicks inside the panel must not close the menu (menus.js closes on .menu-item).
    this.uploadButton.addEventListener('click', () => this.#startUpload());
    this.uploadCancel.addEventListener('click', () => this.upload && this.upload.xhr.abort());
    this.fetchButton.addEventListener('click', () => this.#startFetch());
    this.urlInput.addEventListener('input', () => {
      if (!this.nameInput.dataset.touched) this.nameInput.value = nameFromUrl(this.urlInput.value);
    });
    this.nameInput.addEventListener('input', () => {
      this.nameInput.dataset.touched = this.nameInput.value ? 'true' : '';
    });
    this.render();
  }

  /**
   * @override
   * @param {MsdState} state
   */
  update(state) {
    for (const f of state.fetches || []) this.fetches.set(f.id, f);
    super.update(state);
  }

  /** @param {FetchStatus} status */
  onFetchEvent(status) {
    this.fetches.set(status.id, status);
    if (status.state === 'done') toast(`Downloaded ${status.name}.`, 'info');
    else if (status.state === 'failed') toast(`Download of ${status.name} failed: ${status.error}`, 'error', 0);
    if (status.state !== 'running') {
      window.setTimeout(() => {
        this.fetches.delete(status.id);
        this.render();
      }, 5000);
    }
    this.render();
  }

  /** @override */
  render() {
    const s = this.state;
    const control = this.enabled && this.app.canAct();
    if (!this.enabled) setText(this.status, 'Virtual media is not available on this device.');
    else if (!s) setText(this.status, 'Reading the image store…');
    else {
      const n = s.images.filter((i) => i.complete).length;
      setText(this.status, `${n} image${n === 1 ? '' : 's'} · ${formatBytes(s.space.free)} free`);
    }
    this.#renderDrives(s, control);
    this.#renderImages(s, control);
    this.#renderFetches(control);
    const uploading = Boolean(this.upload);
    this.uploadButton.disabled = !control || uploading;
    this.fileInput.disabled = !control || uploading;
    this.fetchButton.disabled = !control;
    for (const input of [this.urlInput, this.nameInput, this.shaInput]) input.disabled = !control;
    this.uploadProgress.hidden = !uploading;
    this.uploadCancel.hidden = !uploading;
    if (!uploading) setText(this.uploadText, '');
  }

  /**
   * @param {MsdState | null} s
   * @param {boolean} control
   */
  #renderDrives(s, control) {
    const drives = (s && s.drives) || [];
    const items = drives.map((d) => {
      const label = d.image ? `${d.image} (${d.cdrom ? 'CD-ROM' : d.rw ? 'flash, read-write' : 'flash, read-only'})` : 'empty';
      const eject = el('button', { type: 'button', class: 'btn-link', text: 'Eject', 'data-drive': String(d.lun) });
      eject.disabled = !control || !d.image;
      eject.hidden = !d.image;
      eject.addEventListener('click', () => this.#eject(d.lun));
      return el('li', { class: 'msd-item' }, el('span', { class: 'msd-name', text: `Drive ${d.lun}: ${label}` }), eject);
    });
    if (!items.length) items.push(el('li', { class: 'msd-empty', text: 'No drives.' }));
    this.drivesList.replaceChildren(...items);
  }

  /**
   * @param {MsdState | null} s
   * @param {boolean} control
   */
  #renderImages(s, control) {
    const images = (s && s.images) || [];
    const free = (s && s.drives || []).find((d) => !d.image);
    const items = images.map((img) => {
      const size = img.complete ? formatBytes(img.size) : `${formatBytes(img.size)} of ${formatBytes(img.expected)}…`;
      const row = el('li', { class: 'msd-item', 'data-image': img.name },
        el('span', { class: 'msd-name', text: img.name }),
        el('span', { class: 'msd-size', text: size }));
      if (img.attached) row.append(el('span', { class: 'badge', text: 'attached' }));
      if (img.complete && !img.attached) {
        const cd = el('button', { type: 'button', class: 'btn-link', text: 'Attach as CD', 'data-attach': 'cd' });
        const flash = el('button', { type: 'button', class: 'btn-link', text: 'Attach as flash', 'data-attach': 'flash' });
        const del = el('button', { type: 'button', class: 'btn-link menu-danger', text: 'Delete', 'data-delete': '' });
        cd.disabled = flash.disabled = !control || !free;
        del.disabled = !control;
        cd.addEventListener('click', () => this.#attach(img.name, true));
        flash.addEventListener('click', () => this.#attach(img.name, false));
        del.addEventListener('click', () => this.#delete(img.name));
        row.append(cd, flash, del);
      }
      return row;
    });
    if (!items.length) items.push(el('li', { class: 'msd-empty', text: 'No images yet: upload one or download it from a URL.' }));
    this.imagesList.replaceChildren(...items);
  }

  /** @param {boolean} control */
  #renderFetches(control) {
    const items = [...this.fetches.values()].map((f) => {
      const bar = el('progress', { max: f.total > 0 ? f.total : 1, value: f.total > 0 ? f.bytes : 0 });
      const text = f.state === 'running'
        ? `${formatBytes(f.bytes)}${f.total > 0 ? ` of ${formatBytes(f.total)}` : ''}`
        : f.state === 'failed' ? `failed: ${f.error}` : f.state;
      const row = el('li', { class: 'msd-item' }, el('span', { class: 'msd-name', text: f.name }), bar,
        el('span', { class: 'msd-progress-text', text }));
      if (f.state === 'running') {
        const cancel = el('button', { type: 'button', class: 'btn-link', text: 'Cancel' });
        cancel.disabled = !control;
        cancel.addEventListener('click', () => this.#cancelFetch(f.id));
        row.append(cancel);
      }
      return row;
    });
    this.fetchList.replaceChildren(...items);
  }

  /**
   * @param {string} name
   * @param {boolean} cdrom
   */
  async #attach(name, cdrom) {
    const drive = ((this.state && this.state.drives) || []).find((d) => !d.image);
    if (!drive) {
      toast('Every drive holds an image: eject one first.', 'error');
      return;
    }
    try {
      this.update(await apiPost(`/api/msd/drives/${drive.lun}/attach`, { image: name, cdrom, rw: false }));
    } catch (err) {
      toast(`Attach ${name}: ${describeError(err)}`, 'error');
    }
  }

  /** @param {number} lun */
  async #eject(lun) {
    try {
      this.update(await apiPost(`/api/msd/drives/${lun}/eject`));
    } catch (err) {
      toast(`Eject drive ${lun}: ${describeError(err)}`, 'error');
    }
  }

  /** @param {string} name */
  async #delete(name) {
    const ok = await confirmAction({ title: 'Delete image', text: `Delete ${name} from the device?`, confirmLabel: 'Delete' });
    if (!ok) return;
    try {
      this.update(await apiDelete(imagePath(name)));
    } catch (err) {
      toast(`Delete ${name}: ${describeError(err)}`, 'error');
    }
  }

  async #startFetch() {
    const url = this.urlInput.value.trim();
    const name = this.nameInput.value.trim() || nameFromUrl(url);
    const sha256 = this.shaInput.value.trim();
    if (!/^https?:\/\//i.test(url)) {
      toast('Give an http:// or https:// URL.', 'error');
      return;
    }
    /** @type {{url: string, name: string, sha256?: string}} */
    const body = { url, name };
    if (sha256) body.sha256 = sha256;
    try {
      const r = await apiPost('/api/msd/fetch', body);
      this.fetches.set(r.id, { id: r.id, name: r.name, state: 'running', bytes: 0, total: -1 });
      this.urlInput.value = this.nameInput.value = this.shaInput.value = '';
      this.nameInput.dataset.touched = '';
      this.render();
    } catch (err) {
      toast(`Download ${name}: ${describeError(err)}`, 'error');
    }
  }

  /** @param {number} id */
  async #cancelFetch(id) {
    try {
      await apiPost(`/api/msd/fetch/${id}/cancel`);
    } catch (err) {
      toast(`Cancel: ${describeError(err)}`, 'error');
    }
  }

  #startUpload() {
    const file = this.fileInput.files && this.fileInput.files[0];
    if (!file) {
      toast('Choose an image file first.', 'error');
      return;
    }
    const free = this.state && this.state.space ? this.state.space.free : Infinity;
    if (file.size > free) {
      toast(`${file.name} (${formatBytes(file.size)}) does not fit: ${formatBytes(free)} free.`, 'error', 0);
      return;
    }
    const xhr = new XMLHttpRequest();
    const up = { xhr, name: file.name, sent: 0, total: file.size, started: performance.now() };
    this.upload = up;
    xhr.open('PUT', imagePath(file.name));
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.upload.addEventListener('progress', (ev) => {
      up.sent = ev.loaded;
      const secs = (performance.now() - up.started) / 1000;
      const speed = secs > 0 ? ev.loaded / secs : 0;
      this.uploadProgress.max = up.total || 1;
      this.uploadProgress.value = ev.loaded;
      this.uploadProgress.dataset.loaded = String(ev.loaded); /* kept after the end */
      setText(this.uploadText, `${formatBytes(ev.loaded)} of ${formatBytes(up.total)} · ${formatBytes(speed)}/s`);
    });
    /**
     * @param {string} text
     * @param {'info' | 'error'} kind
     */
    const finish = (text, kind) => {
      this.upload = null;
      this.fileInput.value = '';
      if (text) toast(text, kind, kind === 'error' ? 0 : 6000);
      this.render();
      this.load();
    };
    xhr.addEventListener('load', () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status === 201) finish(`Uploaded ${file.name}.`, 'info');
      else finish(`Upload of ${file.name} failed: ${(body && body.error && body.error.message) || `HTTP ${xhr.status}`}`, 'error');
    });
    xhr.addEventListener('error', () => finish(`Upload of ${file.name} failed: the connection broke.`, 'error'));
    xhr.addEventListener('abort', () => finish(`Upload of ${file.name} cancelled.`, 'info'));
    xhr.send(file);
    this.render();
  }
}
