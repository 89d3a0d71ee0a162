/**
 * Challenge bench (issue 12); a module of tests/bench/run.mjs, also `node tests/bench/run.mjs challenge`.
 *
 * 1. Solve time on a throttled phone: the visitor bundle's solver (src/lib/altcha-solver.ts,
 *    bundled with esbuild exactly as written) runs in headless Chromium with the CPU slowed
 *    4× (Lighthouse's mobile preset) on challenges made by the server library at the
 *    configured default cost (ALTCHA_MAX_NUMBER in wrangler.toml). Target: median ≤ 300 ms.
 *    The page is served through a route on http://localhost (a secure context for Web
 *    Crypto); nothing leaves the machine.
 * 2. Verification CPU per registration: worker/abuse/challenge.ts `checkSolution` (shape,
 *    signature, expiry) in Node's V8, process CPU time around N calls. Target: < 0.3 ms.
 *
 * Env: BENCH_CHALLENGES (default 40 solves), BENCH_VERIFY_RUNS (default 2000).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createChallenge } from 'altcha-lib/v1';
import { build } from 'esbuild';
import { launchBrowser, VIEWPORTS } from '../helpers/browser.mjs';
import { ROOT } from '../helpers/server.mjs';

const SOLVES = Number(process.env.BENCH_CHALLENGES ?? 40);
const VERIFY_RUNS = Number(process.env.BENCH_VERIFY_RUNS ?? 2000);
const TARGET = { solveMedianMs: 300, verifyMs: 0.3 };

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

function defaultMaxNumber() {
  const toml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');
  const m = /^ALTCHA_MAX_NUMBER\s*=\s*"(\d+)"/m.exec(toml);
  if (!m) throw new Error('ALTCHA_MAX_NUMBER missing from wrangler.toml [vars]');
  return Number(m[1]);
}

async function bundle(entry, platform) {
  const out = await build({
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    format: 'esm',
    platform,
    write: false,
    minify: platform === 'browser',
  });
  return out.outputFiles[0].text;
}

async function solveTimes(log, maxNumber) {
  const solver = (await bundle('src/lib/altcha-solver.ts', 'browser')).replace(
    /export\s*\{[^}]*\};?\s*$/,
    '',
  );
  const fn = /async function (\w+)\(/.exec(solver)?.[1];
  if (!fn) throw new Error('solver function not found in the bundle');
  const context = await launchBrowser({ viewport: VIEWPORTS.phone });
  try {
    const page = await context.newPage();
    await page.route('http://localhost/bench', (route) =>
      route.fulfill({
        contentType: 'text/html',
        body: `<!doctype html><meta charset="utf-8"><title>bench</title><script>${solver}\nwindow.solve = ${fn};</script>`,
      }),
    );
    await page.goto('http://localhost/bench');
    const cdp = await context.newCDPSession(page);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
    const times = [];
    for (let i = 0; i < SOLVES; i++) {
      // The number is uniform in [0, maxNumber], as the server draws it.
      const c = await createChallenge({ hmacKey: 'bench-key-0123456789', maxNumber: maxNumber });
      const ms = await page.evaluate(async (challenge) => {
        const t0 = performance.now();
        const payload = await window.solve(challenge);
        if (!payload) throw new Error('not solved');
        return performance.now() - t0;
      }, c);
      times.push(ms);
    }
    log(`solved ${SOLVES} challenges at maxnumber ${maxNumber}, CPU throttled 4×`);
    return times;
  } finally {
    await context.close();
  }
}

async function verifyCpu(log) {
  const code = await bundle('worker/abuse/challenge.ts', 'node');
  const file = join(ROOT, 'node_modules/.cache/bench-challenge.mjs');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  mkdirSync(join(ROOT, 'node_modules/.cache'), { recursive: true });
  writeFileSync(file, code);
  const mod = await import(pathToFileURL(file).href);
  const secret = 'bench-lead-key-secret-0123456789abcdef';
  const payloads = [];
  for (let i = 0; i < 50; i++) {
    const c = await mod.newChallenge(secret, 1000);
    const { solveChallenge } = await import('altcha-lib/v1');
    const s = await solveChallenge(c.challenge, c.salt, c.algorithm, c.maxnumber).promise;
    payloads.push(btoa(JSON.stringify({ ...c, number: s.number, maxnumber: undefined })));
  }
  // Warm up, then measure.
  for (let i = 0; i < 200; i++) await mod.checkSolution(secret, payloads[i % payloads.length]);
  const before = process.cpuUsage();
  let ok = 0;
  for (let i = 0; i < VERIFY_RUNS; i++)
    if ((await mod.checkSolution(secret, payloads[i % payloads.length])).ok) ok++;
  const used = process.cpuUsage(before);
  if (ok !== VERIFY_RUNS) throw new Error(`only ${ok} of ${VERIFY_RUNS} solutions verified`);
  const perCallMs = (used.user + used.system) / 1000 / VERIFY_RUNS;
  log(`verified ${VERIFY_RUNS} solutions: ${perCallMs.toFixed(3)} ms CPU each (Node V8, process CPU time)`);
  return perCallMs;
}

export async function run({ log }) {
  const maxNumber = defaultMaxNumber();
  const times = await solveTimes(log, maxNumber);
  const median = quantile(times, 0.5);
  const p90 = quantile(times, 0.9);
  const verify = await verifyCpu(log);
  return {
    name: 'challenge',
    rows: [
      {
        metric: `solve median, phone (CPU 4× slower), maxnumber ${maxNumber}`,
        value: `${median.toFixed(0)} ms`,
        target: `≤ ${TARGET.solveMedianMs} ms`,
        pass: median <= TARGET.solveMedianMs,
      },
      { metric: 'solve p90, phone', value: `${p90.toFixed(0)} ms` },
      {
        metric: 'verification CPU per registration',
        value: `${verify.toFixed(3)} ms`,
        target: `< ${TARGET.verifyMs} ms`,
        pass: verify < TARGET.verifyMs,
      },
    ],
  };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await run({ log: console.log });
  console.table(r.rows);
}
