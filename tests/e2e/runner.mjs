/*
 * runner.mjs — runs the browser tests one after another, each with a time bound, and ends
 * with exactly one line `N passed, M failed` (exit status 1 when M > 0).
 *
 *   node runner.mjs --ipkvmd BUILD/ipkvmd --repo REPO --artifacts DIR [--only REGEXP]
 *
 * The tests are those of every *.test.mjs here. One chromium for the whole run; one demo daemon shared by the tests (each test starts
 * from a fresh browser context); tests that need another configuration start their own.
 */

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { Daemon, killAllDaemons, LAUNCH_OPTIONS } from './harness.mjs';

// Every *.test.mjs beside this file, in name order; each exports `tests`.
const here = path.dirname(new URL(import.meta.url).pathname);
const tests = [];
for (const file of fs.readdirSync(here).filter((f) => f.endsWith('.test.mjs')).sort()) {
  const mod = await import(`./${file}`);
  if (!Array.isArray(mod.tests)) throw new Error(`${file} exports no tests array`);
  tests.push(...mod.tests);
}

function args() {
  const out = { only: '' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    out[key] = argv[i + 1];
  }
  if (!out.ipkvmd || !out.repo || !out.artifacts) {
    console.error('usage: node runner.mjs --ipkvmd PATH --repo DIR --artifacts DIR [--only REGEXP]');
    process.exit(2);
  }
  return out;
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  const opt = args();
  const repo = path.resolve(opt.repo);
  const artifacts = path.resolve(opt.artifacts);
  fs.mkdirSync(artifacts, { recursive: true });
  const webRoot = path.join(repo, 'web');
  const ipkvmd = path.resolve(opt.ipkvmd);

  let passed = 0;
  let failed = 0;
  let browser = null;
  const daemons = [];
  const env = {
    repo,
    artifacts,
    ipkvmd, // BUILD/ipkvmd: the build's test tools are beside it (BUILD/tests/tools)
    browser: null,
    demo: null,
    /* A daemon on the demo configuration plus `extra` config text, stopped at the end. */
    async startDaemon(extra = '') {
      const d = new Daemon({ ipkvmd, webRoot, repo, extraConfig: extra });
      daemons.push(d);
      return d.start();
    },
    shot(page, name) {
      return page.screenshot({ path: path.join(artifacts, `${name}.png`) });
    },
  };

  try {
    browser = await withTimeout(chromium.launch(LAUNCH_OPTIONS), 30000, 'launching chromium');
    env.browser = browser;
    env.demo = await env.startDaemon();
  } catch (err) {
    console.log(`FAIL setup: ${err.stack || err.message}`);
    killAllDaemons();
    if (browser) await browser.close().catch(() => {});
    console.log('0 passed, 1 failed');
    process.exit(1);
  }

  for (const t of tests) {
    if (opt.only && !new RegExp(opt.only).test(t.name)) continue;
    const started = Date.now();
    try {
      await withTimeout(t.fn(env), (t.timeout || 30) * 1000, t.name);
      passed += 1;
      console.log(`ok    ${t.name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (err) {
      failed += 1;
      console.log(`FAIL  ${t.name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      console.log(String(err && err.stack ? err.stack : err).replace(/^/gm, '      '));
    }
    // A test that timed out may have left its context open: close every context.
    for (const ctx of browser.contexts()) await ctx.close().catch(() => {});
  }

  await browser.close().catch(() => {});
  // The daemons are under test too: each must have lived and stopped cleanly.
  const problems = [];
  for (const d of daemons) {
    const problem = await d.stop().catch((err) => String(err));
    if (problem) problems.push(problem);
  }
  if (problems.length) {
    failed += 1;
    console.log('FAIL  every ipkvmd ran and stopped cleanly');
    console.log(problems.join('\n').replace(/^/gm, '      '));
  } else {
    passed += 1;
    console.log(`ok    every ipkvmd ran and stopped cleanly (${daemons.length})`);
  }
  console.log(`screenshots: ${artifacts}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

main().catch((err) => {
  killAllDaemons();
  console.log(`FAIL runner: ${err.stack || err.message}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
});
