/*
 * harness.mjs — fixtures of the browser tests: daemons, an HTTPS API client, the browser.
 *
 * Daemon     one ipkvmd on 127.0.0.1 with its own temp state dir, config and free port; the
 *            config is data/demo.ini (so the tests follow the demo) plus any extra text.
 * Api        a small HTTPS client with a cookie, for setting up and checking from outside
 *            the browser (the self-signed certificate is not verified).
 * openPage   a fresh browser context and page that records every console error, page error
 *            and failed response, so a test can fail on any of them (checkClean).
 * Everything that waits has a time bound.
 */

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

export const HOST = '127.0.0.1';

const live = new Set();

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/* Polls fn() until it returns a truthy value; throws with `what` (and the last value or
 * error) after timeoutMs. */
export async function waitFor(what, fn, timeoutMs = 10000, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  let lastErr;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      const detail = lastErr ? ` (last error: ${lastErr.message})` : ` (last value: ${JSON.stringify(last)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(intervalMs);
  }
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

export function assertEq(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function tlsReady(port) {
  return new Promise((resolve) => {
    const sock = tls.connect({ host: HOST, port, rejectUnauthorized: false }, () => {
      sock.end();
      resolve(true);
    });
    sock.setTimeout(1000, () => {
      sock.destroy();
      resolve(false);
    });
    sock.on('error', () => resolve(false));
  });
}

export class Daemon {
  constructor({ ipkvmd, webRoot, repo, extraConfig = '' }) {
    this.ipkvmd = ipkvmd;
    this.webRoot = webRoot;
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ipkvm-e2e-'));
    this.stateDir = path.join(this.tmp, 'state');
    fs.mkdirSync(this.stateDir, { mode: 0o700 });
    this.configPath = path.join(this.tmp, 'ipkvm.ini');
    const demo = fs.readFileSync(path.join(repo, 'data', 'demo.ini'), 'utf8');
    fs.writeFileSync(this.configPath, `${demo}\n${extraConfig}\n`);
    this.logPath = path.join(this.tmp, 'ipkvmd.log');
    this.proc = null;
    this.port = 0;
    this.password = '';
  }

  get origin() {
    return `https://${HOST}:${this.port}`;
  }

  async start() {
    this.port = await freePort();
    const log = fs.openSync(this.logPath, 'a');
    this.proc = spawn(
      this.ipkvmd,
      ['--config', this.configPath, '--state-dir', this.stateDir, '--web-root', this.webRoot,
        '--listen', HOST, '--port', String(this.port)],
      { stdio: ['ignore', log, log] },
    );
    fs.closeSync(log);
    live.add(this);
    let exited = null;
    this.proc.on('exit', (code, signal) => {
      exited = signal || code;
    });
    await waitFor(`ipkvmd to serve TLS on port ${this.port}`, async () => {
      if (exited !== null) throw new Error(`ipkvmd exited (${exited}): ${this.logTail()}`);
      return tlsReady(this.port);
    }, 15000, 50);
    this.password = fs.readFileSync(path.join(this.stateDir, 'initial-admin-password'), 'utf8').trim();
    return this;
  }

  logTail(lines = 20) {
    try {
      return fs.readFileSync(this.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /* Stops the daemon; resolves what went wrong with it, or '' when it ran cleanly (alive
   * until told to stop, exited 0 on SIGTERM, no sanitizer report in its log). */
  async stop() {
    live.delete(this);
    const proc = this.proc;
    let problem = '';
    if (proc && (proc.exitCode !== null || proc.signalCode !== null)) {
      problem = `ipkvmd on port ${this.port} died during the tests (${proc.signalCode || proc.exitCode})`;
    } else if (proc) {
      const done = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGCONT'); // in case a test left it stopped
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await done;
      clearTimeout(t);
      if (proc.exitCode !== 0) {
        problem = `ipkvmd on port ${this.port} did not exit cleanly on SIGTERM (${proc.signalCode || proc.exitCode})`;
      }
    }
    const log = this.logTail(100000);
    const m = /(AddressSanitizer|LeakSanitizer|runtime error:)/.exec(log);
    if (m) problem = `${problem ? `${problem}; ` : ''}sanitizer report in its log:\n${log.slice(Math.max(0, m.index - 200), m.index + 3000)}`;
    else if (problem) problem += `; log:\n${this.logTail(15)}`;
    fs.rmSync(this.tmp, { recursive: true, force: true });
    return problem;
  }

  /* An API client logged in as admin. */
  async admin() {
    const api = new Api(this);
    await api.login('admin', this.password);
    return api;
  }
}

/* Kill whatever is still running, also on an unexpected exit. */
export function killAllDaemons() {
  for (const d of live) {
    try {
      d.proc.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  live.clear();
}
process.on('exit', killAllDaemons);

export class Api {
  constructor(daemon) {
    this.daemon = daemon;
    this.cookie = '';
    this.agent = new https.Agent({ rejectUnauthorized: false, keepAlive: false });
  }

  /* Resolves {status, body} (body parsed as JSON when it is JSON). Never rejects on HTTP
   * status; rejects on network errors and after 10 s. */
  request(method, p, body) {
    return new Promise((resolve, reject) => {
      const headers = { Accept: 'application/json' };
      let data = null;
      if (body !== undefined || method === 'POST') {
        data = Buffer.from(JSON.stringify(body === undefined ? {} : body));
        headers['Content-Type'] = 'application/json';
        headers['Content-Length'] = String(data.length);
      }
      if (this.cookie) headers.Cookie = this.cookie;
      const req = https.request(
        { host: HOST, port: this.daemon.port, method, path: p, headers, agent: this.agent, timeout: 10000 },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const buf = Buffer.concat(chunks);
            const set = res.headers['set-cookie'];
            if (set) {
              for (const c of set) {
                const m = /^ipkvm_session=([^;]*)/.exec(c);
                if (m) this.cookie = m[1] ? `ipkvm_session=${m[1]}` : '';
              }
            }
            let parsed = buf;
            if ((res.headers['content-type'] || '').includes('json')) {
              try {
                parsed = JSON.parse(buf.toString('utf8'));
              } catch {
                parsed = buf;
              }
            }
            resolve({ status: res.statusCode, body: parsed });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${p}: no answer in 10 s`)));
      req.on('error', reject);
      if (data) req.write(data);
      req.end();
    });
  }

  /* The envelope's result, or throws with the server's answer. */
  async call(method, p, body) {
    const { status, body: b } = await this.request(method, p, body);
    if (status >= 200 && status < 300 && b && b.ok === true) return b.result;
    throw new Error(`${method} ${p} -> ${status} ${Buffer.isBuffer(b) ? b.toString().slice(0, 200) : JSON.stringify(b)}`);
  }

  get(p) {
    return this.call('GET', p);
  }

  post(p, body) {
    return this.call('POST', p, body);
  }

  async login(user, password) {
    return this.post('/api/auth/login', { user, password });
  }
}

/* ---- browser ------------------------------------------------------------------------------ */

export const LAUNCH_OPTIONS = {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update',
    '--disable-sync'],
};

/*
 * A fresh context and page. Every console message of type error, every page error and every
 * HTTP response of 400 or more is recorded in page.problems; `allow` lists regular
 * expressions for the text of problems a test expects (e.g. the 401 of a wrong password).
 */
export async function openPage(browser, { viewport = { width: 1280, height: 800 }, allow = [], context: extra = {} } = {}) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport, ...extra });
  const page = await context.newPage();
  page.problems = [];
  page.allowed = [];
  const note = (text) => {
    if (allow.some((re) => re.test(text))) page.allowed.push(text);
    else page.problems.push(text);
  };
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      const loc = msg.location();
      note(`console.error: ${msg.text()}${loc && loc.url ? ` (${loc.url})` : ''}`);
    }
  });
  page.on('pageerror', (err) => note(`page error: ${err.message}`));
  page.on('response', (res) => {
    if (res.status() >= 400) note(`HTTP ${res.status()} ${res.request().method()} ${res.url()}`);
  });
  page.setDefaultTimeout(10000);
  return { context, page };
}

export function checkClean(page) {
  if (page.problems.length) {
    throw new Error(`the page reported problems:\n  ${page.problems.join('\n  ')}`);
  }
}

/* Signs in through the login page and waits for the console to be ready. */
export async function loginUi(page, daemon, user = 'admin', password = daemon.password) {
  await page.goto(`${daemon.origin}/login`);
  await page.fill('#user', user);
  await page.fill('#password', password);
  await page.click('#login-submit');
  await page.waitForURL(`${daemon.origin}/`);
  // Connected, and the device's information (user, backends) is in.
  await page.waitForSelector('#conn.conn-connected', { timeout: 10000 });
  await page.waitForSelector('#user:not([hidden])', { timeout: 10000 });
}
