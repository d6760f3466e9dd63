/*
 * bench/h264_glass.mjs — H.264 to the glass: capture -> decoded in Chromium (make bench).
 *
 *   node bench/h264_glass.mjs [IPKVMD [WEB_ROOT]] [--seconds N] [--rounds N] [--rate KEYS_PER_S]
 *                             [--scenes typing,desktop] [--pages console,nodraw,minimal]
 *                             [--network]
 *
 * One ipkvmd per scene on 127.0.0.1 (HTTPS, the demo configuration plus the scene's lines),
 * headless Chromium decoding /api/streamer/h264 with WebCodecs' VideoDecoder. Scenes:
 *   typing   the built-in virtual target at its text console, typed at a steady rate through
 *            POST /api/hid/type (delay_ms = 1000 / rate): about one changed frame per key;
 *            one line is typed before each measured run, so the page has settled;
 *   desktop  the pattern source's desktop scene, 1920x1080 at 60 fps (a change every frame).
 * Pages, taking turns round by round so a load that comes and goes meets both:
 *   console  the real web console (web/, H.264 chosen as the operator does it), its own
 *            H264Player decoding and drawing on the screen canvas;
 *   nodraw   the same console with drawImage of a VideoFrame made a no-op (recorded, not
 *            done): headless Chromium has no GPU and draws a 1080p frame in software, which
 *            on this machine costs tens of ms (an operator's browser uploads it to the GPU);
 *            this shows the console's cost apart from that;
 *   minimal  only WebSocket + VideoDecoder (frames closed, never drawn), run in a plain
 *            document of the daemon's origin, so the console's own cost is visible.
 * Nothing in web/ knows about the benchmark: an init script wraps window.WebSocket and
 * window.VideoDecoder before the page's scripts run. Per access unit it records, as unix ms
 * (performance.timeOrigin + performance.now(), µs resolution):
 *   received  the message event (our listener runs before the page's onmessage);
 *   decoded   the decoder's output callback is called (before the page's own callback);
 *   drawn     the page's drawImage of that frame on a 2d canvas returned, or its
 *             putImageData after a copyTo (the console's way when drawImage is slow);
 *             console only; what the compositor does after that is not seen;
 * each against the capture time in the message's header (unix µs). Frames lost: gaps in the
 * received sequence numbers, and access units received but never decoded.
 *
 * Clocks: the daemon stamps CLOCK_REALTIME, the page reads its monotonic clock from its time
 * origin. Each run checks (1) in the page, Date.now() against timeOrigin + now() (their
 * difference must stay within Date.now()'s 1 ms truncation and now()'s 0.1 ms coarsening:
 * (-1.25, 0.25) ms), and (2) that the page's clock lies between two Date.now() readings
 * taken by this process (the system's realtime clock, the daemon's) around the evaluate
 * call. A failed check is printed and makes the exit status 1.
 *
 * --network also records DevTools' Network.webSocketFrameReceived stamp of each message (its
 * clock mapped to unix time by the handshake's wallTime), taken when the page's socket got
 * the frame from the network process: capture->received splits into "to the renderer" and
 * "its message event" (a busy main thread shows in the second). DevTools then copies every
 * message to this process, which costs a little.
 *
 * Needs node, /usr/bin/chromium (or $CHROMIUM) and tests/e2e's npm packages
 * (tests/e2e/npm-install.sh). Prints the load average: figures taken while other work runs
 * on the machine are pessimistic.
 */

import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Daemon, HOST, LAUNCH_OPTIONS, killAllDaemons, sleep, waitFor } from '../tests/e2e/harness.mjs';

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const require = createRequire(path.join(repo, 'tests', 'e2e', 'package.json'));
const { chromium } = require('playwright-core');

const SCENES = {
  typing: { config: '', what: 'virtual target console, typed' },
  desktop: { config: '[video]\nsource = pattern\nscene = desktop\nfps = 60\n', what: 'pattern desktop scene, 60 fps' },
};
const PAGES = ['console', 'nodraw', 'minimal'];

function usage(msg) {
  console.error(`h264_glass: ${msg}\nusage: node bench/h264_glass.mjs [IPKVMD [WEB_ROOT]] [--seconds N] [--rounds N] [--rate KEYS_PER_S] [--scenes typing,desktop] [--pages console,nodraw,minimal] [--network]`);
  process.exit(2);
}

function parseArgs() {
  const out = { ipkvmd: '', webRoot: '', seconds: 8, rounds: 2, rate: 15, scenes: ['typing', 'desktop'], pages: [...PAGES], network: false };
  const rest = [];
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--seconds') out.seconds = Number(argv[++i]);
    else if (a === '--rounds') out.rounds = Number(argv[++i]);
    else if (a === '--rate') out.rate = Number(argv[++i]);
    else if (a === '--scenes') out.scenes = String(argv[++i]).split(',').filter(Boolean);
    else if (a === '--pages') out.pages = String(argv[++i]).split(',').filter(Boolean);
    else if (a === '--network') out.network = true;
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else rest.push(a);
  }
  out.ipkvmd = path.resolve(rest[0] || path.join(repo, 'build', 'ipkvmd'));
  out.webRoot = path.resolve(rest[1] || path.join(repo, 'web'));
  if (!(out.seconds > 0) || !(out.rounds >= 1) || !(out.rate > 0 && out.rate <= 200) ||
    !out.scenes.length || out.scenes.some((s) => !SCENES[s]) || !out.pages.length || out.pages.some((p) => !PAGES.includes(p))) {
    usage('bad --seconds, --rounds, --rate, --scenes or --pages');
  }
  return out;
}

/* Runs in every page before its own scripts (both pages): the hooks. */
function probe(noDraw) {
  const now = () => performance.timeOrigin + performance.now();
  const g = { msgs: [], outs: [], errors: [], last: null, chunks: new Map(), from: 0 };
  Object.defineProperty(window, '__glass', { value: g });
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(url, protocols) {
      super(url, protocols);
      if (!/^\/api\/(streamer\/h264|media\/ws)$/.test(new URL(url, location.href).pathname)) return;
      // Added before the page sets onmessage: runs first, at the message's arrival.
      this.addEventListener('message', (ev) => {
        const t = now();
        if (typeof ev.data === 'string' || !(ev.data instanceof ArrayBuffer) || ev.data.byteLength < 24) return;
        const v = new DataView(ev.data);
        const h = { seq: v.getUint32(4, true), flags: v.getUint8(1), cap: Number(v.getBigInt64(8, true)) / 1000, rx: t, bytes: ev.data.byteLength - 24 };
        g.last = h;
        if (!(h.flags & 2) && h.cap >= g.from) g.msgs.push(h);
      });
    }
  };
  const VD = window.VideoDecoder;
  if (typeof VD !== 'function') return;
  const byTs = new Map(); // frame timestamp -> its record, until drawn
  window.VideoDecoder = class extends VD {
    constructor(init) {
      const output = init.output;
      const error = init.error;
      super({
        output: (frame) => {
          const t = now();
          const h = g.chunks.get(frame.timestamp);
          g.chunks.delete(frame.timestamp);
          if (h && h.cap >= g.from) {
            const rec = { seq: h.seq, cap: h.cap, rx: h.rx, dec: t, draw0: null, drawn: null };
            g.outs.push(rec);
            byTs.set(frame.timestamp, rec);
            if (byTs.size > 256) byTs.delete(byTs.keys().next().value);
          }
          output(frame);
        },
        error: (err) => {
          g.errors.push(String(err && err.message));
          error(err);
        },
      });
    }

    decode(chunk) {
      // Called from the page's onmessage for the message just received.
      if (g.last) g.chunks.set(chunk.timestamp, g.last);
      if (g.chunks.size > 256) g.chunks.delete(g.chunks.keys().next().value);
      return super.decode(chunk);
    }
  };
  const VF = window.VideoFrame;
  // The console's other way to draw (a browser drawing in software): copyTo RGBA, then
  // putImageData. The frame being copied, until its picture is put.
  const copyTo = VF.prototype.copyTo;
  let copied = null;
  VF.prototype.copyTo = function (...args) {
    const rec = byTs.get(this.timestamp);
    if (rec) {
      rec.draw0 = now();
      copied = rec;
      byTs.delete(this.timestamp);
    }
    return copyTo.apply(this, args);
  };
  const put = CanvasRenderingContext2D.prototype.putImageData;
  CanvasRenderingContext2D.prototype.putImageData = function (...args) {
    const rec = copied;
    copied = null;
    const result = rec && noDraw ? undefined : put.apply(this, args);
    if (rec) rec.drawn = now();
    return result;
  };
  // A decoded frame drawn on a 2d canvas: when the draw started and returned.
  const draw = CanvasRenderingContext2D.prototype.drawImage;
  CanvasRenderingContext2D.prototype.drawImage = function (...args) {
    const rec = args[0] instanceof VF ? byTs.get(args[0].timestamp) : undefined;
    const t0 = rec ? now() : 0;
    const result = rec && noDraw ? undefined : draw.apply(this, args);
    if (rec) {
      rec.draw0 = t0;
      rec.drawn = now();
      byTs.delete(args[0].timestamp);
    }
    return result;
  };
}

/* The minimal page: WebSocket + VideoDecoder, nothing drawn. Same rules as the console's
 * player (keyframe first, a gap or a decoder error asks for a keyframe). Evaluated in a
 * document the daemon served (GET /api/info), so that it runs on the daemon's origin and
 * address space: a page made up by the browser itself (page.route) counts as public, and
 * Chromium's local network access checks block its socket to 127.0.0.1. */
function minimalPage() {
  const ws = new WebSocket(`wss://${location.host}/api/streamer/h264`);
  ws.binaryType = 'arraybuffer';
  let dec = null;
  let codec = null;
  let expect = null;
  let waitKey = true;
  const hex = (n) => n.toString(16).padStart(2, '0').toUpperCase();
  const codecOf = (b) => {
    for (let i = 0; i + 7 < b.length; i++) {
      if (b[i] === 0 && b[i + 1] === 0 && b[i + 2] === 1 && (b[i + 3] & 0x1f) === 7) return `avc1.${hex(b[i + 4])}${hex(b[i + 5])}${hex(b[i + 6])}`;
    }
    return null;
  };
  const askKey = () => {
    waitKey = true;
    if (ws.readyState === WebSocket.OPEN) ws.send('{"event":"keyframe"}');
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data === 'string') return;
    const v = new DataView(ev.data);
    const flags = v.getUint8(1);
    const seq = v.getUint32(4, true);
    if (flags & 2) return;
    const key = (flags & 1) !== 0;
    if (!key && (waitKey || seq !== expect)) {
      if (!waitKey) askKey();
      return;
    }
    const data = new Uint8Array(ev.data, 24);
    if (key) {
      const c = codecOf(data);
      if (!c) return;
      if (!dec || dec.state !== 'configured' || c !== codec) {
        if (dec && dec.state !== 'closed') dec.close();
        dec = new VideoDecoder({
          output: (f) => f.close(),
          error: () => {
            dec = null;
            askKey();
          },
        });
        dec.configure({ codec: c, optimizeForLatency: true });
        codec = c;
      }
      waitKey = false;
    }
    if (!dec) return;
    expect = (seq + 1) >>> 0;
    dec.decode(new EncodedVideoChunk({ type: key ? 'key' : 'delta', timestamp: seq, data }));
  };
}

/* ---- figures ------------------------------------------------------------------------------ */

function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

function dist(values) {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: quantile(s, 0.5), p95: quantile(s, 0.95), p99: quantile(s, 0.99), max: s[s.length - 1] };
}

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const trio = (d) => `${f1(d.p50)} / ${f1(d.p95)} / ${f1(d.p99)}`;

/* Whole machine's busy jiffies and one process's, for CPU shares over a run. */
function machineJiffies() {
  const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = cpu[3] + (cpu[4] || 0);
  return { busy: cpu.reduce((a, b) => a + b, 0) - idle, total: cpu.reduce((a, b) => a + b, 0) };
}

function procJiffies(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/* CPU of a process and all its descendants. */
function treeJiffies(rootPid) {
  return tree(rootPid).reduce((sum, p) => sum + procJiffies(p), 0);
}

/* The pids of a process and all its descendants. */
function tree(rootPid) {
  const kids = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(d));
    } catch {
      /* gone */
    }
  }
  const out = [];
  const todo = [rootPid];
  while (todo.length) {
    const p = todo.pop();
    out.push(p);
    todo.push(...(kids.get(p) || []));
  }
  return out;
}

/* The browser's processes: this process's children but the daemon, and theirs. */
function browserJiffies(daemon) {
  return treeJiffies(process.pid) - procJiffies(process.pid) - procJiffies(daemon.proc.pid);
}

/* ---- one run ------------------------------------------------------------------------------ */

const TEXT_LINE = 'echo The quick brown fox jumps over the lazy dog 0123456789\n';

async function typing(api, rate, seconds) {
  // One text for the whole run (one at a time is allowed); cancelled at the end.
  const chars = Math.ceil(rate * (seconds + 5));
  const text = TEXT_LINE.repeat(Math.ceil(chars / TEXT_LINE.length)).slice(0, chars);
  const delay = Math.max(0, Math.round(1000 / rate));
  const r = await api.post('/api/hid/type', { text, layout: 'us', delay_ms: delay });
  const t0 = Date.now();
  return async () => {
    const { status, body } = await api.request('POST', '/api/hid/type/cancel');
    const typed = status === 200 && body && body.ok ? body.result.typed : chars;
    return { id: r.id, keys: typed, seconds: (Date.now() - t0) / 1000 };
  };
}

async function oneRun(browser, scene, daemon, api, cookie, pageKind, opts) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  try {
    await context.addCookies([{ name: cookie.name, value: cookie.value, domain: HOST, path: '/', secure: true, httpOnly: true, sameSite: 'Strict' }]);
    await context.addInitScript(probe, pageKind === 'nodraw');
    const page = await context.newPage();
    const problems = [];
    const net = new Map(); // seq -> unix ms the browser's network stack had the message
    if (opts.network) {
      const cdp = await context.newCDPSession(page);
      const video = new Set(); // the H.264 sockets' request ids
      let offset = null; // unix ms minus DevTools' monotonic ms
      cdp.on('Network.webSocketCreated', (e) => {
        if (/\/api\/(streamer\/h264|media\/ws)$/.test(new URL(e.url).pathname)) video.add(e.requestId);
      });
      cdp.on('Network.webSocketWillSendHandshakeRequest', (e) => {
        if (video.has(e.requestId)) offset = e.wallTime * 1000 - e.timestamp * 1000;
      });
      cdp.on('Network.webSocketFrameReceived', (e) => {
        if (offset === null || !video.has(e.requestId) || e.response.opcode !== 2) return;
        const head = Buffer.from(e.response.payloadData.slice(0, 32), 'base64');
        if (head.length < 24 || head[1] & 2) return;
        net.set(head.readUInt32LE(4), offset + e.timestamp * 1000);
      });
      await cdp.send('Network.enable');
    }
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      const where = (msg.location() && msg.location().url) || '';
      if (msg.type() === 'error' && !/\/favicon\.ico$/.test(where)) problems.push(`console.error: ${msg.text()} (${where})`);
    });
    if (pageKind === 'console' || pageKind === 'nodraw') {
      // The operator's choice of codec, as the video menu keeps it.
      await context.addInitScript(() => {
        try {
          window.localStorage.setItem('ipkvm.codec', 'h264');
        } catch {
          /* no storage: the menu is used below */
        }
      });
      await page.goto(`${daemon.origin}/`, { waitUntil: 'load', timeout: 20000 });
    } else {
      await page.goto(`${daemon.origin}/api/info`, { waitUntil: 'load', timeout: 20000 });
      await page.evaluate(minimalPage);
    }
    // Streaming: frames come out of the decoder.
    try {
      await waitFor(`${pageKind}: decoded H.264 frames`, () => page.evaluate(() => window.__glass.outs.length > 0), 20000, 100);
    } catch (err) {
      const g = await page.evaluate(() => ({ msgs: window.__glass.msgs.length, errors: window.__glass.errors }));
      throw new Error(`${err.message}; ${g.msgs} access units received, decoder errors ${JSON.stringify(g.errors)}, page problems ${JSON.stringify(problems)}`);
    }
    await sleep(500); // past the joining keyframe
    if (scene === 'typing') {
      // A warm-up line: the page settles (the console picks its way of drawing) before the
      // measured run, as an operator's console has long before they type.
      const text = 'echo warm up\n';
      const delay = Math.round(1000 / opts.rate);
      await api.post('/api/hid/type', { text, layout: 'us', delay_ms: delay });
      await sleep(text.length * delay + 500);
    }

    const clock = [];
    const clockCheck = async () => {
      const before = Date.now();
      const c = await page.evaluate(() => {
        // Date.now() read between two reads of the precise clock that are at most one
        // step of it apart (performance.now() is coarsened to 100 µs in a page that is not
        // cross-origin isolated; a read that was preempted in between is left out).
        let lo = Infinity;
        let hi = -Infinity;
        let n = 0;
        let precise = 0;
        for (let i = 0; i < 5000 && n < 1000; i++) {
          const p1 = performance.timeOrigin + performance.now();
          const d = Date.now();
          const p2 = performance.timeOrigin + performance.now();
          if (p2 - p1 > 0.1001) continue;
          n++;
          lo = Math.min(lo, d - p2);
          hi = Math.max(hi, d - p1);
          precise = p2;
        }
        return { lo, hi, n, precise };
      });
      const after = Date.now();
      // The page's precise clock inside [before, after + 1) of the system clock (ms truncation).
      clock.push({ lo: c.lo, hi: c.hi, n: c.n, bracket: c.precise >= before && c.precise < after + 1, rtt: after - before });
    };
    await clockCheck();

    const m0 = machineJiffies();
    const d0 = procJiffies(daemon.proc.pid);
    const b0 = browserJiffies(daemon);
    const start = await page.evaluate(() => {
      const g = window.__glass;
      g.from = performance.timeOrigin + performance.now();
      g.msgs.length = 0;
      g.outs.length = 0;
      return g.from;
    });
    const stopTyping = scene === 'typing' ? await typing(api, opts.rate, opts.seconds) : null;
    const encodeMs = [];
    const deadline = Date.now() + opts.seconds * 1000;
    while (Date.now() < deadline) {
      await sleep(500);
      const st = await api.get('/api/streamer');
      if (st.h264 && st.h264.encode_ms) encodeMs.push(st.h264.encode_ms);
    }
    const typed = stopTyping ? await stopTyping() : null;
    await sleep(300); // the last frames through the decoder
    const res = await page.evaluate(() => {
      const g = window.__glass;
      const out = { msgs: g.msgs.slice(), outs: g.outs.slice(), errors: g.errors.slice(), to: performance.timeOrigin + performance.now() };
      g.from = Infinity;
      return out;
    });
    const m1 = machineJiffies();
    const d1 = procJiffies(daemon.proc.pid);
    const b1 = browserJiffies(daemon);
    await clockCheck();
    const span = (res.to - start) / 1000;
    const tick = (m1.total - m0.total) / os.cpus().length; // jiffies of wall time
    for (const m of res.msgs) m.net = net.has(m.seq) ? net.get(m.seq) : null;
    return {
      ...res, start, span, typed, clock, problems, encodeMs,
      cpu: {
        machine: ((m1.busy - m0.busy) / tick) * 100,
        daemon: ((d1 - d0) / tick) * 100,
        browser: ((b1 - b0) / tick) * 100,
      },
    };
  } finally {
    await context.close();
  }
}

/* Figures of all runs of one scene and page. */
function summarize(runs) {
  const rx = [];
  const netArr = [];
  const deliver = [];
  const dec = [];
  const share = [];
  const drawn = [];
  const drawCost = [];
  const capDrawn = [];
  let draws = 0;
  let received = 0;
  let decoded = 0;
  let gaps = 0;
  let undecoded = 0;
  let keys = 0;
  let typedSeconds = 0;
  let span = 0;
  let bytes = 0;
  const errors = [];
  for (const r of runs) {
    const msgs = r.msgs;
    received += msgs.length;
    for (let i = 1; i < msgs.length; i++) {
      const step = (msgs[i].seq - msgs[i - 1].seq) >>> 0;
      if (step !== 1) gaps += step > 0 && step < 0x80000000 ? step - 1 : 1;
    }
    for (const m of msgs) {
      rx.push(m.rx - m.cap);
      if (m.net !== null && m.net !== undefined) {
        netArr.push(m.net - m.cap);
        deliver.push(m.rx - m.net);
      }
      bytes += m.bytes;
    }
    const got = new Set(r.outs.map((o) => o.seq));
    undecoded += msgs.filter((m) => !got.has(m.seq) && m.rx < r.to - 250).length;
    decoded += r.outs.length;
    for (const o of r.outs) {
      dec.push(o.dec - o.cap);
      share.push(o.dec - o.rx);
      if (o.drawn !== null) {
        draws += 1;
        drawn.push(o.drawn - o.dec);
        drawCost.push(o.drawn - o.draw0);
        capDrawn.push(o.drawn - o.cap);
      }
    }
    if (r.typed) {
      keys += r.typed.keys;
      typedSeconds += r.typed.seconds;
    }
    span += r.span;
    errors.push(...r.errors, ...r.problems);
  }
  const avg = (k) => runs.reduce((a, r) => a + r.cpu[k], 0) / runs.length;
  return {
    received, decoded, gaps, undecoded, span, fps: decoded / span, kbps: (bytes * 8) / span / 1000,
    keysPerS: typedSeconds ? keys / typedSeconds : null,
    draws, net: dist(netArr), deliver: dist(deliver), rx: dist(rx), dec: dist(dec), share: dist(share), drawn: dist(drawn), drawCost: dist(drawCost), capDrawn: dist(capDrawn),
    encode: dist(runs.flatMap((r) => r.encodeMs)),
    cpu: { machine: avg('machine'), daemon: avg('daemon'), browser: avg('browser') },
    clock: runs.flatMap((r) => r.clock),
    errors,
  };
}

async function main() {
  const opts = parseArgs();
  const load0 = os.loadavg();
  console.log(`h264_glass: ${new Date().toISOString()}, ${os.cpus().length} CPUs, load average ${load0.map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`ipkvmd ${opts.ipkvmd}, web root ${opts.webRoot}`);
  console.log(`${opts.rounds} rounds x ${opts.seconds} s per scene and page, pages taking turns; typing at ${opts.rate} keys/s (POST /api/hid/type)`);
  let browser = null;
  const results = [];
  try {
    browser = await chromium.launch(LAUNCH_OPTIONS);
    console.log(`browser: Chromium ${browser.version()} headless (${LAUNCH_OPTIONS.executablePath})`);
    for (const scene of opts.scenes) {
      const daemon = new Daemon({ ipkvmd: opts.ipkvmd, webRoot: opts.webRoot, repo, extraConfig: SCENES[scene].config });
      try {
        await daemon.start();
        const api = await daemon.admin();
        const m = /^([^=]+)=(.*)$/.exec(api.cookie);
        if (!m) throw new Error('no session cookie after signing in');
        const cookie = { name: m[1], value: m[2] };
        if (scene === 'typing') {
          const t = await api.get('/api/target');
          if (t.power === 'off') await api.post('/api/atx/click', { button: 'power' });
          await waitFor('the virtual target at its console', async () => (await api.get('/api/target')).phase === 'console', 30000, 200);
        }
        const st = await api.get('/api/streamer');
        if (!st.h264) throw new Error('the daemon has no H.264 stream ([h264] backend = none?)');
        const backend = `${st.h264.backend}, ${st.h264.bitrate} kbit/s, fps max ${st.h264.fps_max}, gop ${st.h264.gop}`;
        const runs = Object.fromEntries(opts.pages.map((p) => [p, []]));
        for (let round = 0; round < opts.rounds; round++) {
          for (const p of opts.pages) runs[p].push(await oneRun(browser, scene, daemon, api, cookie, p, opts));
        }
        for (const p of opts.pages) results.push({ scene, page: p, backend, ...summarize(runs[p]) });
      } finally {
        const problem = await daemon.stop();
        if (problem) {
          console.error(`h264_glass: ${problem}`);
          process.exitCode = 1;
        }
      }
    }
  } finally {
    if (browser) await browser.close();
  }
  const load1 = os.loadavg();
  console.log(`load average at the end ${load1.map((x) => x.toFixed(2)).join(' ')}`);
  console.log();
  for (const s of opts.scenes) {
    const r = results.find((x) => x.scene === s);
    console.log(`${s}: ${SCENES[s].what}; H.264 backend ${r.backend}`);
  }
  console.log();
  console.log('times in ms, p50 / p95 / p99; "decode" is received -> decoded (the output callback)');
  console.log('scene    page     frames   fps  lost  keys/s  capture->received    decode               capture->decoded     encode p50  CPU daemon/browser/machine %');
  for (const r of results) {
    const lost = `${r.gaps}+${r.undecoded}`;
    console.log(`${r.scene.padEnd(8)} ${r.page.padEnd(8)} ${String(r.decoded).padStart(6)} ${f1(r.fps).padStart(5)} ${lost.padStart(5)} ` +
      `${(r.keysPerS ? f1(r.keysPerS) : '-').padStart(7)}  ${trio(r.rx).padEnd(20)} ${trio(r.share).padEnd(20)} ${trio(r.dec).padEnd(20)} ` +
      `${f1(r.encode.p50).padStart(10)}  ${f1(r.cpu.daemon)} / ${f1(r.cpu.browser)} / ${f1(r.cpu.machine)}`);
  }
  const networked = results.filter((r) => r.net.n > 0);
  if (networked.length) {
    console.log();
    console.log('capture->received split (--network): capture -> the renderer\'s socket (DevTools stamp), then -> the page\'s message event');
    for (const r of networked) {
      console.log(`${r.scene.padEnd(8)} ${r.page.padEnd(8)} ${String(r.net.n).padStart(6)}  ${trio(r.net).padEnd(20)} ${trio(r.deliver)}`);
    }
  }
  const drawing = results.filter((r) => r.draws > 0);
  if (drawing.length) {
    console.log();
    console.log('drawn on the canvas (drawImage, or copyTo + putImageData, returned): frames drawn, capture->drawn, decoded->drawn, the drawing itself');
    for (const r of drawing) {
      console.log(`${r.scene.padEnd(8)} ${r.page.padEnd(8)} ${String(r.draws).padStart(6)}  ${trio(r.capDrawn).padEnd(20)} ${trio(r.drawn).padEnd(20)} ${trio(r.drawCost)}`);
    }
  }
  console.log('lost = sequence gaps at the socket + received but not decoded');
  const clock = results.flatMap((r) => r.clock);
  const lo = Math.min(...clock.map((c) => c.lo));
  const hi = Math.max(...clock.map((c) => c.hi));
  const inside = clock.filter((c) => c.bracket).length;
  console.log(`clock check: page Date.now() - (timeOrigin + now()) in [${lo.toFixed(3)}, ${hi.toFixed(3)}] ms over ${clock.length} checks ` +
    `(Date.now() truncates to 1 ms, now() is coarsened to 0.1 ms: within (-1.25, 0.25) they agree); page clock inside this process's Date.now() bracket in ${inside}/${clock.length}`);
  const ok = lo > -1.25 && hi < 0.25 && inside === clock.length && clock.every((c) => c.n > 0);
  if (!ok) {
    console.log('clock check FAILED: the latencies above are not trustworthy');
    process.exitCode = 1;
  }
  const errors = results.flatMap((r) => r.errors);
  if (errors.length) {
    console.log(`problems in the pages: ${[...new Set(errors)].slice(0, 10).join('; ')}`);
  }
  const target = results.find((r) => r.scene === 'typing' && r.page === 'console');
  if (target) {
    const met = target.dec.p50 <= 8;
    console.log(`target: H.264 capture->decoded in Chromium p50 <= 8 ms while typing (console): ${f1(target.dec.p50)} ms, ${met ? 'met' : 'missed'}`);
  }
  for (const r of results) {
    if (r.decoded === 0) {
      console.log(`${r.scene} ${r.page}: no frame decoded`);
      process.exitCode = 1;
    }
  }
}

main().catch((err) => {
  console.error(`h264_glass: ${err.stack || err}`);
  killAllDaemons();
  process.exit(1);
});
