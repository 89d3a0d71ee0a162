/**
 * Lighthouse bench: the built landing page `/` against two one-file "floor" pages, all
 * served by the same workerd (`vite preview` on a snapshot of dist/, the floors added as
 * static assets) behind a proxy that compresses like Cloudflare's edge
 * (tests/helpers/compress-proxy.mjs):
 *
 * - `static`: the HTML of `/` as one file without any script (islands not hydrated).
 *   Same content, same CSS: what `/` costs beyond its content (worker rendering, the
 *   island script). The 10 % LCP target is measured against this floor.
 * - `floor`: tests/bench/floor.html, the least a page can be (a heading and two lines).
 *   What the content itself costs; printed for information.
 *
 * Lighthouse 12, mobile preset (the default config: Moto G Power screen, simulated slow 4G
 * and 4× CPU slowdown), 3 runs per page, interleaved; each figure is the median of its
 * three runs. Prints the four category scores, FCP, LCP, TBT, CLS, bytes and requests for
 * both pages and the LCP ratio app/floor, and lists every audit that cost a point.
 *
 * Targets (reported as PASS/FAIL, never thrown): 100 in all four categories, LCP ≤ 0.9 s
 * and within 10 % of the static floor, first-load transfer ≤ 40 kB.
 *
 * Lantern (the simulation) scales the CPU time it observed, so a busy machine inflates
 * every page alike; the pages are interleaved run by run for that reason.
 * BENCH_LIGHTHOUSE_RUNS overrides the number of runs.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import lighthouse from 'lighthouse';
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from '../helpers/browser.mjs';
import { startCompressProxy } from '../helpers/compress-proxy.mjs';
import { ROOT, startServer } from '../helpers/server.mjs';

const RUNS = Number(process.env.BENCH_LIGHTHOUSE_RUNS ?? 3);
const PORT_BASE = Number(process.env.BENCH_PORT_BASE ?? 4340);
const CATEGORIES = ['performance', 'accessibility', 'best-practices', 'seo'];
const TARGET = { lcpMs: 900, lcpRatio: 1.1, bytes: 40_000 };

// Static assets get the strict CSP from public/_headers (no inline style); the floors are
// single files with inline CSS, so they get a policy that allows that and no script.
// connect-src 'self': Lighthouse's SEO audit fetches /robots.txt from inside the page.
const FLOOR_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'";
const floorHeaders = (paths) =>
  paths.map((p) => `\n${p}\n  ! Content-Security-Policy\n  Content-Security-Policy: ${FLOOR_CSP}\n`).join('');

/** The HTML of `/` with every script but JSON-LD removed: the page as a static file. */
function staticCopyOf(html) {
  // Module script, Solid's inline hydration bootstrap, island props: all but JSON-LD.
  return html
    .replace(/<script(?![^>]*application\/ld\+json)[^>]*>[\s\S]*?<\/script>/g, '')
    .replace(/<link rel="modulepreload"[^>]*>/g, '');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Chromium with a DevTools port for Lighthouse, in its own process group. */
async function launchChromium(port) {
  const profile = mkdtempSync(join(tmpdir(), 'webinar-lh-chromium-'));
  const child = spawn(
    'setsid',
    [
      CHROMIUM_PATH,
      ...CHROMIUM_FLAGS,
      '--headless=new',
      `--remote-debugging-port=${port}`,
      `--user-data-dir=${profile}`,
      '--disable-extensions',
      '--disable-default-apps',
      'about:blank',
    ],
    { stdio: 'ignore' },
  );
  const kill = () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  process.once('exit', kill);
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/json/version`);
      if (res.ok) break;
    } catch {
      /* not yet */
    }
    if (i > 100) {
      kill();
      throw new Error(`Chromium did not open its DevTools port ${port}`);
    }
    await sleep(100);
  }
  return {
    stop: async () => {
      process.removeListener('exit', kill);
      kill();
      await sleep(200);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * One Lighthouse run; a run that fails to record its trace (NO_NAVSTART and the like,
 * which a busy machine provokes now and then) is repeated up to twice.
 */
async function audit(url, log) {
  for (let attempt = 1; ; attempt++) {
    const result = await lighthouse(url, {
      port: PORT_BASE + 2,
      output: 'json',
      logLevel: 'error',
      onlyCategories: CATEGORIES,
    });
    const error = !result ? 'no result' : result.lhr.runtimeError?.message;
    if (!error) return result.lhr;
    if (attempt >= 3) throw new Error(`${url}: ${error}`);
    log(`  (retrying ${url}: ${error})`);
  }
}

const median = (values) => {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (!sorted.length) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** The figures of one Lighthouse result. */
function figuresOf(lhr) {
  const audit = (id) => lhr.audits[id]?.numericValue;
  const requests = lhr.audits['network-requests']?.details?.items ?? [];
  const scores = Object.fromEntries(
    CATEGORIES.map((c) => [c, Math.round((lhr.categories[c]?.score ?? 0) * 100)]),
  );
  // Audits that cost points: failing (score < 1) and weighted in a category we report.
  const lost = [];
  for (const c of CATEGORIES) {
    for (const ref of lhr.categories[c]?.auditRefs ?? []) {
      const a = lhr.audits[ref.id];
      if (a && a.score !== null && a.score < 1 && (ref.weight > 0 || c !== 'performance'))
        lost.push(`${c}: ${a.id} (${a.score}) ${a.title}${a.displayValue ? ` – ${a.displayValue}` : ''}`);
    }
  }
  return {
    scores,
    fcp: audit('first-contentful-paint'),
    lcp: audit('largest-contentful-paint'),
    tbt: audit('total-blocking-time'),
    cls: audit('cumulative-layout-shift'),
    bytes: audit('total-byte-weight'),
    rawBytes: requests.reduce((sum, r) => sum + (r.resourceSize ?? 0), 0),
    requests: requests.length,
    requestList: requests.map(
      (r) => `${r.resourceType ?? '?'} ${new URL(r.url).pathname} ${r.transferSize} B`,
    ),
    lost,
    warnings: lhr.runWarnings ?? [],
  };
}

function medianFigures(runs) {
  const pick = (f) => median(runs.map(f));
  return {
    scores: Object.fromEntries(CATEGORIES.map((c) => [c, pick((r) => r.scores[c])])),
    fcp: pick((r) => r.fcp),
    lcp: pick((r) => r.lcp),
    lcpRange: [Math.min(...runs.map((r) => r.lcp)), Math.max(...runs.map((r) => r.lcp))],
    tbt: pick((r) => r.tbt),
    cls: pick((r) => r.cls),
    bytes: pick((r) => r.bytes),
    rawBytes: pick((r) => r.rawBytes),
    requests: pick((r) => r.requests),
    requestList: runs[0].requestList,
    lost: [...new Set(runs.flatMap((r) => r.lost))],
    warnings: [...new Set(runs.flatMap((r) => r.warnings))],
  };
}

const ms = (v) => (Number.isFinite(v) ? `${Math.round(v)} ms` : 'n/a');
const kb = (v) => (Number.isFinite(v) ? `${(v / 1000).toFixed(1)} kB` : 'n/a');

/**
 * Bench module entry (see tests/bench/run.mjs).
 * @param {{ log: (line?: string) => void }} ctx
 */
export async function run({ log }) {
  // The static floor is the page as the worker renders it right now: ask a first server.
  const first = await startServer({ port: PORT_BASE, environment: 'production' });
  let landingHtml;
  try {
    landingHtml = await (await fetch(`${first.url}/`)).text();
  } finally {
    await first.stop();
    first.cleanup();
  }
  // ENVIRONMENT=production: the deployed CSP and the isolate's HTML cache, as visitors get.
  const server = await startServer({
    port: PORT_BASE,
    environment: 'production',
    extraAssets: {
      'floor.html': readFileSync(join(ROOT, 'tests/bench/floor.html'), 'utf8'),
      'floor-static.html': staticCopyOf(landingHtml),
      _headers:
        readFileSync(join(ROOT, 'dist/client/_headers'), 'utf8') + floorHeaders(['/floor', '/floor-static']),
    },
  });
  const proxy = await startCompressProxy({ upstream: server.url, port: PORT_BASE + 1 });
  const chrome = await launchChromium(PORT_BASE + 2);
  const pages = { app: `${proxy.url}/`, static: `${proxy.url}/floor-static`, floor: `${proxy.url}/floor` };
  const results = { app: [], static: [], floor: [] };
  try {
    for (let i = 0; i < RUNS; i++) {
      for (const [name, url] of Object.entries(pages)) {
        const f = figuresOf(await audit(url, log));
        results[name].push(f);
        log(
          `  run ${i + 1}/${RUNS} ${name.padEnd(6)} perf ${f.scores.performance} a11y ${f.scores.accessibility} ` +
            `bp ${f.scores['best-practices']} seo ${f.scores.seo}  LCP ${ms(f.lcp)}  ${kb(f.bytes)}`,
        );
      }
    }
  } finally {
    await chrome.stop();
    await proxy.stop();
    await server.stop();
    server.cleanup();
  }

  const app = medianFigures(results.app);
  const stat = medianFigures(results.static);
  const floor = medianFigures(results.floor);
  const ratio = app.lcp / stat.lcp;
  const ratioMin = app.lcp / floor.lcp;

  const all = [app, stat, floor];
  const table = [
    ['', 'app /', 'static', 'floor'],
    ...CATEGORIES.map((c) => [c, ...all.map((f) => String(f.scores[c]))]),
    ['FCP', ...all.map((f) => ms(f.fcp))],
    ['LCP', ...all.map((f) => ms(f.lcp))],
    ['TBT', ...all.map((f) => ms(f.tbt))],
    ['CLS', ...all.map((f) => f.cls.toFixed(3))],
    ['bytes (compressed)', ...all.map((f) => kb(f.bytes))],
    ['bytes (uncompressed)', ...all.map((f) => kb(f.rawBytes))],
    ['requests', ...all.map((f) => String(f.requests))],
    ['LCP app / this page', '', ratio.toFixed(2), ratioMin.toFixed(2)],
  ];
  log(`\nLighthouse ${RUNS} runs each, median, mobile preset, simulated throttling:`);
  for (const row of table)
    log(
      `  ${row[0].padEnd(22)}${row
        .slice(1)
        .map((c) => c.padStart(10))
        .join('')}`,
    );
  log(`\n  requests of /: ${app.requestList.join(' | ')}`);
  if (app.lost.length) log(`\n  audits that cost points on /:\n    ${app.lost.join('\n    ')}`);
  if (stat.lost.length)
    log(`\n  audits that cost points on the static floor:\n    ${stat.lost.join('\n    ')}`);
  if (floor.lost.length) log(`\n  audits that cost points on the floor:\n    ${floor.lost.join('\n    ')}`);
  if (app.warnings.length) log(`\n  Lighthouse warnings: ${app.warnings.join(' / ')}`);

  const rows = [
    ...CATEGORIES.map((c) => ({
      metric: `${c} score`,
      value: String(app.scores[c]),
      target: '100',
      pass: app.scores[c] === 100,
    })),
    {
      metric: 'LCP',
      // The range shows Lantern's two modes (island script counted or not; decision 011).
      value: `${ms(app.lcp)} (runs ${app.lcpRange.map((v) => Math.round(v)).join('–')})`,
      target: `≤ ${TARGET.lcpMs} ms`,
      pass: app.lcp <= TARGET.lcpMs,
    },
    {
      metric: 'LCP / static floor LCP',
      value: `${ratio.toFixed(2)} (${ms(stat.lcp)})`,
      target: `≤ ${TARGET.lcpRatio}`,
      pass: ratio <= TARGET.lcpRatio,
    },
    { metric: 'LCP / minimal floor LCP', value: `${ratioMin.toFixed(2)} (${ms(floor.lcp)})` },
    { metric: 'FCP', value: ms(app.fcp) },
    { metric: 'TBT', value: ms(app.tbt) },
    { metric: 'CLS', value: app.cls.toFixed(3) },
    {
      metric: 'first-load bytes',
      value: kb(app.bytes),
      target: `≤ ${kb(TARGET.bytes)}`,
      pass: app.bytes <= TARGET.bytes,
    },
    { metric: 'requests', value: String(app.requests) },
  ];
  return { name: 'lighthouse', rows };
}
