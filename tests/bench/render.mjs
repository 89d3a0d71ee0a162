/**
 * Render bench (module interface: see run.mjs): CPU time of one server render of `/` in
 * workerd, uncached (the landing HTML rendered from the config by Solid SSR) and cached
 * (the isolate's rendered-HTML cache, keyed by config version and phase, answering).
 * Targets: uncached < 2 ms, cached < 0.2 ms median.
 *
 * The real app's fetch handler runs inside a bench-only worker
 * (tests/bench/render-worker/entry.ts), bundled with the app's Solid transform and run by
 * Miniflare (the same workerd as `vite preview`), with the built index.html as its shell.
 * There is no HTTP in the measured loop: the figures are our code's time per request,
 * measured as batch averages (workerd's clock only advances at I/O), median over batches.
 * Run alone: `node tests/bench/render.mjs` (needs `npm run build` for dist/client/index.html).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Miniflare } from 'miniflare';
import { ROOT } from '../helpers/server.mjs';

const TARGETS = { uncached: 2, cached: 0.2 };
const BATCH = Number(process.env.BENCH_RENDER_BATCH ?? 200);
const BATCHES = Number(process.env.BENCH_RENDER_BATCHES ?? 15);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function buildBenchWorker() {
  const r = spawnSync(
    process.execPath,
    [
      join(ROOT, 'node_modules/vite/bin/vite.js'),
      'build',
      '--config',
      'tests/bench/render-worker/vite.config.ts',
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`render bench worker build failed:\n${r.stdout}${r.stderr}`);
  return join(ROOT, '.tmp/bench-render/worker.js');
}

/** @param {{ log: (line?: string) => void }} io */
export async function run({ log }) {
  const scriptPath = buildBenchWorker();
  const shell = readFileSync(join(ROOT, 'dist/client/index.html'), 'utf8');
  const mf = new Miniflare({
    modules: true,
    scriptPath,
    compatibilityDate: '2026-04-20',
    compatibilityFlags: ['nodejs_compat'],
    kvNamespaces: ['CONTENT'],
    bindings: { SHELL: shell },
  });
  const rows = [];
  try {
    for (const mode of ['uncached', 'cached']) {
      const res = await mf.dispatchFetch(
        `http://bench.test/bench?mode=${mode}&batch=${BATCH}&batches=${BATCHES}`,
      );
      if (!res.ok) throw new Error(`bench worker answered ${res.status}: ${await res.text()}`);
      const { perBatchMs } = await res.json();
      const med = median(perBatchMs);
      log(
        `${mode.padEnd(8)} median ${med.toFixed(3)} ms/render  (batches of ${BATCH}: ` +
          `min ${Math.min(...perBatchMs).toFixed(3)}, max ${Math.max(...perBatchMs).toFixed(3)})`,
      );
      rows.push({
        metric: `GET / ${mode} render (median)`,
        value: `${med.toFixed(3)} ms`,
        target: `< ${TARGETS[mode]} ms`,
        pass: med < TARGETS[mode],
      });
    }
  } finally {
    await mf.dispose();
  }
  return { name: 'render', rows };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { rows } = await run({ log: (line = '') => console.log(line) });
  console.table(rows);
}
