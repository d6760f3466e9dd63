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
 * The panel is built here, like every menu's (menus.js has the pattern). Sizes, rates, times
 * left and dates are written by i18n.js (Intl) in the console's language; a failed download
 * says why by the device's `error_code`, in the console's words.
 */

import { ApiError, apiDelete, apiPost } from './api.js';
import { el, setText, describeError, toast, confirmAction } from './ui.js';
import { ServiceMenu } from './menus.js';
import { formatBytes, formatDate, formatDuration, formatRate, t, tn } from './i18n.js';

/**
 * GET /api/msd and the `msd` event.
 * @typedef {object} MsdState
 * @property {MsdImage[]} images
 * @property {{free: number}} space bytes
 * @property {MsdDrive[]} [drives]
 * @property {FetchStatus[]} [fetches]
 */
/**
 * @typedef {{name: string, size: number, expected: number, mtime?: number, complete: boolean,
 *   attached: boolean}} MsdImage
 */
/** @typedef {{lun: number, image: string | null, cdrom: boolean, rw: boolean}} MsdDrive */
/**
 * A download from a URL: the `msd_fetch` event.
 * @typedef {{id: number, name: string, state: string, bytes: number, total: number, error?: string, error_code?: string}} FetchStatus
 */
/** @typedef {{xhr: XMLHttpRequest, name: string, sent: number, total: number, started: number}} Upload */

/**
 * A failed download's reason in the console's language, from the device's word for it
 * (`error_code` of the `msd_fetch` event: docs/api.md); "HTTP 404" gives the status.
 * @param {FetchStatus} status
 */
export function fetchReason(status) {
  const http = /^HTTP (\d+)$/.exec(status.error || '');
  return t(`msd.fetch_reason.${status.error_code || 'transfer'}`, { status: http ? http[1] : '?' });
}

/** The error codes of an upload (PUT /api/msd/images/{name}) said in the store's terms. */
const UPLOAD_ERRORS = ['bad_name', 'conflict', 'insufficient_storage'];

/**
 * An upload's failure from its answer: the store's own words for its codes, the console's
 * for the rest (describeError), with the device's message after when there is one.
 * @param {XMLHttpRequest} xhr
 */
function uploadError(xhr) {
  /** @type {{code?: string, message?: string} | null} */
  let error = null;
  try {
    const body = JSON.parse(xhr.responseText);
    error = body && body.error && typeof body.error === 'object' ? body.error : null;
  } catch {
    error = null;
  }
  const code = (error && error.code) || '';
  if (UPLOAD_ERRORS.includes(code)) return t(`msd.upload_error.${code}`);
  return describeError(new ApiError((error && error.message) || `HTTP ${xhr.status}`,
    { code: code || 'internal', status: xhr.status }));
}

/**
 * A time left, or '' when it cannot be told yet.
 * @param {number} done bytes
 * @param {number} total bytes
 * @param {number} bytesPerSecond
 */
function timeLeft(done, total, bytesPerSecond) {
  if (!(total > 0) || !(bytesPerSecond > 0) || done >= total) return '';
  return formatDuration(Math.ceil((total - done) / bytesPerSecond));
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
    super({ id: 'msd', label: t('msd.menu'), wide: true, path: '/api/msd', unreadable: t('msd.unreadable') });
    this.app = app;
    /** @type {Upload | null} */
    this.upload = null;
    /** @type {Map<number, FetchStatus>} */
    this.fetches = new Map();
    /** @type {Map<number, {at: number, bytes: number}>} when each download was first seen running */
    this.fetchStarts = new Map();
    const panel = this.panel;
    this.drivesList = el('ul', { class: 'msd-list', id: 'msd-drives' });
    this.imagesList = el('ul', { class: 'msd-list', id: 'msd-images' });
    this.fileInput = el('input', { type: 'file', id: 'msd-file', class: 'msd-file' });
    this.fileInput.setAttribute('aria-label', t('msd.file_label'));
    this.uploadButton = el('button', { type: 'button', class: 'btn btn-small', id: 'msd-upload', text: t('msd.upload') });
    this.uploadProgress = el('progress', { id: 'msd-upload-progress', max: 1, value: 0, hidden: true });
    this.uploadText = el('span', { class: 'msd-progress-text', id: 'msd-upload-text' });
    this.uploadCancel = el('button', { type: 'button', class: 'btn-link', id: 'msd-upload-cancel', text: t('msd.cancel'), hidden: true });
    this.urlInput = el('input', {
      type: 'url', id: 'msd-url', placeholder: t('msd.url_placeholder'), 'aria-label': t('msd.url_label'),
    });
    this.nameInput = el('input', {
      type: 'text', id: 'msd-name', placeholder: t('msd.name_placeholder'), 'aria-label': t('msd.name_label'),
    });
    this.shaInput = el('input', {
      type: 'text', id: 'msd-sha256', placeholder: t('msd.sha256_placeholder'), 'aria-label': t('msd.sha256_label'),
    });
    this.fetchButton = el('button', { type: 'button', class: 'btn btn-small', id: 'msd-fetch', text: t('msd.download') });
    this.fetchList = el('ul', { class: 'msd-list', id: 'msd-fetches' });

    panel.append(
      el('h3', { class: 'menu-heading', text: t('msd.drives') }),
      this.drivesList,
      el('h3', { class: 'menu-heading', text: t('msd.images') }),
      this.imagesList,
      el('h3', { class: 'menu-heading', text: t('msd.upload_heading') }),
      el('div', { class: 'msd-row' }, this.fileInput, this.uploadButton),
      el('div', { class: 'msd-row' }, this.uploadProgress, this.uploadText, this.uploadCancel),
      el('h3', { class: 'menu-heading', text: t('msd.download_heading') }),
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
    if (status.state === 'done') toast(t('msd.downloaded', { name: status.name }), 'info');
    else if (status.state === 'failed') {
      toast(t('msd.download_failed', { name: status.name, reason: fetchReason(status) }), 'error', 0);
    }
    if (status.state !== 'running') {
      window.setTimeout(() => {
        this.fetches.delete(status.id);
        this.fetchStarts.delete(status.id);
        this.render();
      }, 5000);
    }
    this.render();
  }

  /** @override */
  render() {
    const s = this.state;
    const control = this.enabled && this.app.canAct();
    if (!this.enabled) setText(this.status, t('msd.unavailable'));
    else if (!s) setText(this.status, t('msd.reading'));
    else {
      const n = s.images.filter((i) => i.complete).length;
      setText(this.status, tn('msd.status', n, { free: formatBytes(s.space.free) }));
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
      const kind = t(d.cdrom ? 'msd.kind.cdrom' : d.rw ? 'msd.kind.flash_rw' : 'msd.kind.flash_ro');
      const label = d.image ? t('msd.drive', { lun: d.lun, image: d.image, kind }) : t('msd.drive_empty', { lun: d.lun });
      const eject = el('button', { type: 'button', class: 'btn-link', text: t('msd.eject'), 'data-drive': String(d.lun) });
      eject.disabled = !control || !d.image;
      eject.hidden = !d.image;
      eject.addEventListener('click', () => this.#eject(d.lun));
      return el('li', { class: 'msd-item' }, el('span', { class: 'msd-name', text: label }), eject);
    });
    if (!items.length) items.push(el('li', { class: 'msd-empty', text: t('msd.no_drives') }));
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
      let size = formatBytes(img.size);
      if (!img.complete) {
        size = img.expected > 0
          ? t('msd.size_partial', { size, expected: formatBytes(img.expected) })
          : t('msd.size_partial_unknown', { size });
      }
      const name = el('span', { class: 'msd-name', text: img.name });
      if (img.mtime) name.title = t('msd.stored_at', { date: formatDate(img.mtime * 1000) });
      const row = el('li', { class: 'msd-item', 'data-image': img.name }, name,
        el('span', { class: 'msd-size', text: size }));
      if (img.attached) row.append(el('span', { class: 'badge', text: t('msd.attached') }));
      if (img.complete && !img.attached) {
        const cd = el('button', { type: 'button', class: 'btn-link', text: t('msd.attach_cd'), 'data-attach': 'cd' });
        const flash = el('button', { type: 'button', class: 'btn-link', text: t('msd.attach_flash'), 'data-attach': 'flash' });
        const del = el('button', { type: 'button', class: 'btn-link menu-danger', text: t('msd.delete'), 'data-delete': '' });
        cd.disabled = flash.disabled = !control || !free;
        del.disabled = !control;
        cd.addEventListener('click', () => this.#attach(img.name, true));
        flash.addEventListener('click', () => this.#attach(img.name, false));
        del.addEventListener('click', () => this.#delete(img.name));
        row.append(cd, flash, del);
      }
      return row;
    });
    if (!items.length) items.push(el('li', { class: 'msd-empty', text: t('msd.no_images') }));
    this.imagesList.replaceChildren(...items);
  }

  /** @param {boolean} control */
  #renderFetches(control) {
    const items = [...this.fetches.values()].map((f) => {
      const bar = el('progress', { max: f.total > 0 ? f.total : 1, value: f.total > 0 ? f.bytes : 0 });
      const text = f.state === 'running' ? this.#fetchProgress(f)
        : f.state === 'failed' ? t('msd.fetch_state.failed', { reason: fetchReason(f) })
          : t(`msd.fetch_state.${f.state === 'done' ? 'done' : 'cancelled'}`);
      const row = el('li', { class: 'msd-item' }, el('span', { class: 'msd-name', text: f.name }), bar,
        el('span', { class: 'msd-progress-text', text }));
      if (f.state === 'running') {
        const cancel = el('button', { type: 'button', class: 'btn-link', text: t('msd.cancel') });
        cancel.disabled = !control;
        cancel.addEventListener('click', () => this.#cancelFetch(f.id));
        row.append(cancel);
      }
      return row;
    });
    this.fetchList.replaceChildren(...items);
  }

  /**
   * "1.2 GB of 4.7 GB · 3 min left" for a running download; the rate is measured from when
   * this console first saw it running.
   * @param {FetchStatus} f
   */
  #fetchProgress(f) {
    const now = performance.now();
    let start = this.fetchStarts.get(f.id);
    if (!start) {
      start = { at: now, bytes: f.bytes };
      this.fetchStarts.set(f.id, start);
    }
    const bytes = formatBytes(f.bytes);
    if (!(f.total > 0)) return bytes;
    const secs = (now - start.at) / 1000;
    const left = secs >= 2 ? timeLeft(f.bytes, f.total, (f.bytes - start.bytes) / secs) : '';
    const total = formatBytes(f.total);
    return left ? t('msd.progress_left', { done: bytes, total, left }) : t('msd.progress', { done: bytes, total });
  }

  /**
   * @param {string} name
   * @param {boolean} cdrom
   */
  async #attach(name, cdrom) {
    const drive = ((this.state && this.state.drives) || []).find((d) => !d.image);
    if (!drive) {
      toast(t('msd.no_free_drive'), 'error');
      return;
    }
    try {
      this.update(await apiPost(`/api/msd/drives/${drive.lun}/attach`, { image: name, cdrom, rw: false }));
    } catch (err) {
      toast(t('msd.attach_failed', { name, error: describeError(err) }), 'error');
    }
  }

  /** @param {number} lun */
  async #eject(lun) {
    try {
      this.update(await apiPost(`/api/msd/drives/${lun}/eject`));
    } catch (err) {
      toast(t('msd.eject_failed', { lun, error: describeError(err) }), 'error');
    }
  }

  /** @param {string} name */
  async #delete(name) {
    const ok = await confirmAction({
      title: t('msd.delete_title'), text: t('msd.delete_text', { name }), confirmLabel: t('msd.delete'),
    });
    if (!ok) return;
    try {
      this.update(await apiDelete(imagePath(name)));
    } catch (err) {
      const error = err instanceof ApiError && err.code === 'conflict' ? t('msd.delete_attached') : describeError(err);
      toast(t('msd.delete_failed', { name, error }), 'error');
    }
  }

  async #startFetch() {
    const url = this.urlInput.value.trim();
    const name = this.nameInput.value.trim() || nameFromUrl(url);
    const sha256 = this.shaInput.value.trim();
    if (!/^https?:\/\//i.test(url)) {
      toast(t('msd.bad_url'), 'error');
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
      toast(t('msd.fetch_failed', { name, error: describeError(err) }), 'error');
    }
  }

  /** @param {number} id */
  async #cancelFetch(id) {
    try {
      await apiPost(`/api/msd/fetch/${id}/cancel`);
    } catch (err) {
      toast(t('msd.cancel_failed', { error: describeError(err) }), 'error');
    }
  }

  #startUpload() {
    const file = this.fileInput.files && this.fileInput.files[0];
    if (!file) {
      toast(t('msd.choose_file'), 'error');
      return;
    }
    const free = this.state && this.state.space ? this.state.space.free : Infinity;
    if (file.size > free) {
      toast(t('msd.no_fit', { name: file.name, size: formatBytes(file.size), free: formatBytes(free) }), 'error', 0);
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
      const left = secs >= 2 ? timeLeft(ev.loaded, up.total, speed) : '';
      const counts = { done: formatBytes(ev.loaded), total: formatBytes(up.total), rate: formatRate(speed) };
      setText(this.uploadText, left ? t('msd.upload_progress_left', { ...counts, left }) : t('msd.upload_progress', counts));
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
      if (xhr.status === 201) finish(t('msd.uploaded', { name: file.name }), 'info');
      else finish(t('msd.upload_failed', { name: file.name, error: uploadError(xhr) }), 'error');
    });
    xhr.addEventListener('error', () => finish(t('msd.upload_broken', { name: file.name }), 'error'));
    xhr.addEventListener('abort', () => finish(t('msd.upload_cancelled', { name: file.name }), 'info'));
    xhr.send(file);
    this.render();
  }
}
