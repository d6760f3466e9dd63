/*
 * bench/console_start.mjs — how soon the web console is there (make bench).
 *
 *   node bench/console_start.mjs [IPKVMD [WEB_ROOT]] [--runs N] [--locales en-US,ja-JP]
 *                                [--rtts 0,40] [--visits first,again]
 *
 * One ipkvmd in the demo configuration (the built-in virtual target) on 127.0.0.1, signed in
 * once through the API; then, N times per case, a fresh browser context (empty cache and
 * storage, the session's cookie) opens the console, and the page itself records, in ms from
 * its navigation start (performance.now()):
 *   built  the top bar's menus are in #menubar (console.js builds every part before it hands
 *          the menus to the bar: the console is constructed);
 *   drawn  the first picture is drawn on the #screen-video canvas (the first drawImage on its
 *          2d context, MJPEG or H.264 alike); each run also checks that this picture is not
 *          all black.
 * A case is a browser locale (en-US, ja-JP: navigator.languages and Accept-Language) and an
 * emulated round-trip time (CDP Network.emulateNetworkConditions: `latency` ms added to every
 * request; 0 = loopback as is) and a visit: `first` (a browser that never opened the console)
 * or `again` (the same context opened it once before: its cache and localStorage, e.g. the
 * language it showed last, are there). The cases take turns run by run, so a load that comes and
 * goes on the machine spreads over all of them. One discarded warm-up run per case first.
 * Prints the median and p90 of each case, and the median request timeline of the console's
 * start-up requests (start -> end, ms), which shows where the time goes.
 *
 * The daemon and the web root are arguments so that the same script measures an older build
 * (default: build/ipkvmd and web/ of this tree); --compare IPKVMD WEB_ROOT runs a second
 * daemon, an older build, whose cases (first locale only: a console from before localization
 * speaks English anyway) take turns with this one's, so both meet the same machine load. Needs node, /usr/bin/chromium (or
 * $CHROMIUM) and tests/e2e's npm packages (tests/e2e/npm-install.sh).
 */

import { createRequire } from 'node:module';
import path from 'node:path';
import { Daemon, HOST, LAUNCH_OPTIONS, killAllDaemons } from '../tests/e2e/harness.mjs';

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const require = createRequire(path.join(repo, 'tests', 'e2e', 'package.json'));
const { chromium } = require('playwright-core');

function parseArgs() {
  const out = {
    ipkvmd: '', webRoot: '', compare: null, runs: 15, locales: ['en-US', 'ja-JP'], rtts: [0, 40], visits: ['first', 'again'],
  };
  const rest = [];
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') out.runs = Number(argv[++i]);
    else if (a === '--locales') out.locales = argv[++i].split(',').filter(Boolean);
    else if (a === '--rtts') out.rtts = argv[++i].split(',').map(Number);
    else if (a === '--visits') out.visits = argv[++i].split(',').filter(Boolean);
    else if (a === '--compare') {
      out.compare = { ipkvmd: path.resolve(argv[i + 1] || ''), webRoot: path.resolve(argv[i + 2] || '') };
      if (!argv[i + 2]) usage('--compare takes IPKVMD and WEB_ROOT');
      i += 2;
    } else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else rest.push(a);
  }
  out.ipkvmd = path.resolve(rest[0] || path.join(repo, 'build', 'ipkvmd'));
  out.webRoot = path.resolve(rest[1] || path.join(repo, 'web'));
  if (!(out.runs >= 1) || !out.locales.length || out.rtts.some((r) => !(r >= 0)) || !out.visits.length ||
    out.visits.some((v) => v !== 'first' && v !== 'again')) usage('bad --runs, --locales, --rtts or --visits');
  return out;
}

function usage(msg) {
  console.error(`console_start: ${msg}\nusage: node bench/console_start.mjs [IPKVMD [WEB_ROOT]] [--compare IPKVMD WEB_ROOT] [--runs N] [--locales en-US,ja-JP] [--rtts 0,40] [--visits first,again]`);
  process.exit(2);
}

/* Runs in every page before its own scripts: records the two moments, and the first
 * picture's brightness (a 32x18 copy of the canvas, read once). */
function probe() {
  const bench = { built: null, drawn: null, lit: null };
  Object.defineProperty(window, '__bench', { value: bench });
  const draw = CanvasRenderingContext2D.prototype.drawImage;
  CanvasRenderingContext2D.prototype.drawImage = function (...args) {
    const result = draw.apply(this, args);
    if (bench.drawn === null && this.canvas && this.canvas.id === 'screen-video') {
      bench.drawn = performance.now();
      const small = document.createElement('canvas');
      small.width = 32;
      small.height = 18;
      const g = small.getContext('2d');
      draw.call(g, this.canvas, 0, 0, 32, 18);
      const px = g.getImageData(0, 0, 32, 18).data;
      let lit = 0;
      for (let i = 0; i < px.length; i += 4) if (px[i] + px[i + 1] + px[i + 2] > 48) lit++;
      bench.lit = lit;
    }
    return result;
  };
  const check = () => {
    if (bench.built === null && document.querySelector('#menubar > *')) {
      bench.built = performance.now();
      return true;
    }
    return false;
  };
  const observer = new MutationObserver(() => {
    if (check()) observer.disconnect();
  });
  observer.observe(document, { childList: true, subtree: true });
}

/* The requests whose timing is shown (a pattern on the URL's path, a short name). */
const TIMELINE = [
  [/^\/$/, 'document'],
  [/\/assets\/console\.js$/, 'console.js'],
  [/\/assets\/i18n\.js$/, 'i18n.js'],
  [/\/assets\/[^/]*\.js$/, 'all modules'],
  [/\/api\/auth\/check$/, 'auth/check'],
  [/\/i18n\/languages\.json$/, 'languages.json'],
  [/\/i18n\/en\.json$/, 'en.json'],
  [/\/i18n\/ja\.json$/, 'ja.json'],
  [/\/api\/info$/, 'api/info'],
];

async function oneRun(browser, daemon, cookie, locale, rtt, visit) {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 800 },
    locale,
  });
  try {
    await context.addCookies([{ name: cookie.name, value: cookie.value, domain: HOST, path: '/', secure: true, httpOnly: true, sameSite: 'Strict' }]);
    await context.addInitScript(probe);
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: rtt, downloadThroughput: -1, uploadThroughput: -1 });
    const ready = () => page.waitForFunction(() => window.__bench && window.__bench.built !== null && window.__bench.drawn !== null,
      null, { timeout: 20000, polling: 50 });
    if (visit === 'again') {
      await page.goto(`${daemon.origin}/`, { waitUntil: 'commit', timeout: 20000 });
      await ready();
    }
    await page.goto(`${daemon.origin}/`, { waitUntil: 'commit', timeout: 20000 });
    await page.waitForFunction(() => window.__bench && window.__bench.built !== null && window.__bench.drawn !== null,
      null, { timeout: 20000, polling: 50 });
    return await page.evaluate((patterns) => {
      const entries = performance.getEntriesByType('resource');
      const nav = performance.getEntriesByType('navigation')[0];
      const timeline = {};
      for (const [source, name] of patterns) {
        const re = new RegExp(source);
        const list = [nav, ...entries].filter((e) => e && re.test(new URL(e.name).pathname));
        if (!list.length) continue;
        if (name === 'all modules') {
          // The module graph: the first request, the last arrival.
          timeline[name] = [Math.min(...list.map((e) => e.startTime)), Math.max(...list.map((e) => e.responseEnd))];
          continue;
        }
        // The first request of the kind (a reconnect may ask again).
        const e = list.sort((a, b) => a.startTime - b.startTime)[0];
        timeline[name] = [e.startTime, e.responseEnd];
      }
      const b = window.__bench;
      return { built: b.built, drawn: b.drawn, lit: b.lit, lang: document.documentElement.lang, protocol: nav && nav.nextHopProtocol, timeline };
    }, TIMELINE.map(([re, name]) => [re.source, name]));
  } finally {
    await context.close();
  }
}

function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const fmt = (ms) => (Number.isFinite(ms) ? String(Math.round(ms)) : '-');

async function main() {
  const opts = parseArgs();
  const builds = [{ label: 'this', ipkvmd: opts.ipkvmd, webRoot: opts.webRoot, locales: opts.locales }];
  // An older console (before localization) speaks English whatever the browser's locale.
  if (opts.compare) builds.push({ label: 'compare', ...opts.compare, locales: opts.locales.slice(0, 1) });
  let browser = null;
  try {
    for (const b of builds) {
      b.daemon = new Daemon({ ipkvmd: b.ipkvmd, webRoot: b.webRoot, repo });
      await b.daemon.start();
      const api = await b.daemon.admin();
      const m = /^([^=]+)=(.*)$/.exec(api.cookie);
      if (!m) throw new Error(`${b.ipkvmd}: no session cookie after signing in`);
      b.cookie = { name: m[1], value: m[2] };
    }
    browser = await chromium.launch(LAUNCH_OPTIONS);
    const cases = [];
    for (const b of builds) {
      for (const locale of b.locales) {
        for (const rtt of opts.rtts) for (const visit of opts.visits) cases.push({ build: b, locale, rtt, visit, runs: [] });
      }
    }
    for (const b of builds) console.log(`${b.label.padEnd(7)}: ${b.ipkvmd}, web root ${b.webRoot}`);
    console.log(`${opts.runs} runs per case (+1 warm-up), cases taking turns; times in ms from navigation start`);
    for (let round = 0; round <= opts.runs; round++) {
      for (const c of cases) {
        const r = await oneRun(browser, c.build.daemon, c.build.cookie, c.locale, c.rtt, c.visit);
        if (!(r.lit > 0)) throw new Error(`${c.locale} ${c.rtt} ms: the first picture is all black`);
        if (round > 0) c.runs.push(r);
      }
    }
    console.log(`HTTP: ${[...new Set(cases.flatMap((c) => c.runs.map((r) => r.protocol || '?')))].join(', ')}`);
    console.log();
    console.log('build    locale  RTT ms  visit  lang  built p50  built p90  picture p50  picture p90');
    for (const c of cases) {
      const built = c.runs.map((r) => r.built).sort((a, b) => a - b);
      const drawn = c.runs.map((r) => r.drawn).sort((a, b) => a - b);
      console.log(`${c.build.label.padEnd(7)}  ${c.locale.padEnd(6)}  ${String(c.rtt).padStart(6)}  ${c.visit.padEnd(5)}  ` +
        `${(c.runs[0].lang || '-').padEnd(4)}  ` +
        `${fmt(quantile(built, 0.5)).padStart(9)}  ${fmt(quantile(built, 0.9)).padStart(9)}  ` +
        `${fmt(quantile(drawn, 0.5)).padStart(11)}  ${fmt(quantile(drawn, 0.9)).padStart(11)}`);
    }
    console.log();
    console.log('median request timeline per case (start-end ms; "built" and "picture" as above):');
    for (const c of cases) {
      const parts = [];
      for (const [, name] of TIMELINE) {
        const have = c.runs.filter((r) => r.timeline[name]);
        if (have.length < c.runs.length / 2) continue;
        parts.push(`${name} ${fmt(median(have.map((r) => r.timeline[name][0])))}-${fmt(median(have.map((r) => r.timeline[name][1])))}`);
      }
      parts.push(`built ${fmt(median(c.runs.map((r) => r.built)))}`, `picture ${fmt(median(c.runs.map((r) => r.drawn)))}`);
      console.log(`  ${c.build.label} ${c.locale} ${c.rtt} ms ${c.visit}: ${parts.join(', ')}`);
    }
  } finally {
    if (browser) await browser.close();
    for (const b of builds) {
      if (!b.daemon) continue;
      const problem = await b.daemon.stop();
      if (problem) {
        console.error(`console_start: ${problem}`);
        process.exitCode = 1;
      }
    }
  }
}

main().catch((err) => {
  console.error(`console_start: ${err.stack || err}`);
  killAllDaemons();
  process.exit(1);
});
