/**
 * `npm run bench`: runs the benchmark modules one after another (they share two cores)
 * and ends with one summary table. Builds first when dist/ is missing.
 *
 * Module interface — to add a bench, write tests/bench/<name>.mjs and append it to
 * BENCHES below:
 *
 *   export async function run({ log }) → { name, rows }
 *
 *   log(line)  prints a progress or detail line under the module's heading
 *   name       short module name for the summary
 *   rows       [{ metric, value, target?, pass? }]: value and target are display strings;
 *              pass (true/false) prints PASS/FAIL, absent means "figure only"
 *
 * A module starts and stops whatever it needs (tests/helpers/server.mjs startServer()
 * gives an isolated preview server; use ports from your own range). A module that throws
 * is reported as ERROR and the others still run. Targets never throw: every module runs
 * and prints its rows; the run then exits 1 when any row failed or a module errored.
 *
 * `node tests/bench/run.mjs lighthouse` runs only the named modules.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/server.mjs';

/** Bench modules, relative to this directory, in the order they run. */
const BENCHES = [
  './lighthouse.mjs',
  './export.mjs',
  './load.mjs',
  './launch.mjs',
  './render.mjs',
  './reminders.mjs',
  './challenge.mjs',
];

process.env.WRANGLER_SEND_METRICS = 'false';
process.env.CLOUDFLARE_CF_FETCH_ENABLED = 'false';
process.env.WRANGLER_HIDE_BANNER = 'true';

function ensureBuilt() {
  if (existsSync(join(ROOT, 'dist/webinar_landing/wrangler.json'))) return;
  console.log('dist/ is missing: building first (npm run build) …');
  for (const args of [['scripts/ensure-dev-vars.mjs'], ['node_modules/vite/bin/vite.js', 'build']]) {
    const r = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status ?? 1);
  }
}

const only = process.argv.slice(2);
const selected = only.length ? BENCHES.filter((b) => only.some((o) => b.includes(o))) : BENCHES;

ensureBuilt();
const summary = [];
let errored = false;
for (const path of selected) {
  console.log(`\n== ${path.replace(/^\.\/|\.mjs$/g, '')} ==`);
  const started = Date.now();
  try {
    const mod = await import(path);
    const result = await mod.run({ log: (line = '') => console.log(line) });
    for (const row of result.rows) summary.push({ bench: result.name, ...row });
  } catch (error) {
    errored = true;
    console.error(error);
    summary.push({ bench: path, metric: 'ERROR', value: String(error?.message ?? error).slice(0, 80) });
  }
  console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

const cells = summary.map((r) => [
  r.bench,
  r.metric,
  r.value,
  r.target ?? '',
  r.pass === undefined ? '' : r.pass ? 'PASS' : 'FAIL',
]);
const header = ['bench', 'metric', 'value', 'target', 'result'];
const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
const line = (c) => c.map((v, i) => v.padEnd(widths[i])).join('  ');
console.log('\n== summary ==');
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const c of cells) console.log(line(c));
const fails = summary.filter((r) => r.pass === false).length;
console.log(
  `\n${summary.filter((r) => r.pass).length} PASS, ${fails} FAIL${errored ? ', errors above' : ''}`,
);
process.exit(errored || fails ? 1 : 0);
