/**
 * Export bench (module interface: see run.mjs): seeds 100,000 leads into a fresh local KV,
 * then exports them as CSV through `GET /api/admin/leads` of the built app (vite preview →
 * workerd) and reports the time, the KV reads the export made (list calls ≤ 101, gets = 0,
 * counted at the binding by the worker and logged as `export.done`), workerd's peak
 * memory during the export, and the rows written (= leads seeded).
 *
 * Seeding writes straight into the temp persist dir with Miniflare (a throwaway seeding
 * worker, never an app route), in parallel batches of 1000 puts; the app's server is
 * started on that dir afterwards. `BENCH_LEADS=10000 npm run bench export` for a quick run.
 * Run alone: `node tests/bench/export.mjs`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedLeads } from './seed.mjs';
import { startServer } from '../helpers/server.mjs';

const LEADS = Number(process.env.BENCH_LEADS ?? 100_000);
const PORT = Number(process.env.BENCH_EXPORT_PORT ?? 4450);
const OPS_TOKEN = 'dev-only-ops-token-0123456789abcdef';
/** The LEADS namespace id from wrangler.toml: local storage is keyed by it. */

/** The seeding worker: builds realistic metadata itself, so only ranges cross the wire. */
const SEED_WORKER = `
export default {
  async fetch(req, env) {
    const { from, to } = await req.json();
    const sources = ['newsletter', 'facebook', 'podcast', '', 'google'];
    const statuses = ['pending', 'confirmed', 'confirmed', 'unsubscribed'];
    const puts = [];
    for (let i = from; i < to; i++) {
      const id = i.toString(16).padStart(8, '0') + 'b'.repeat(56);
      const c = new Date(Date.UTC(2026, 10, 1) + (i % 30) * 86400000 + i).toISOString();
      const m = { e: 'bench.lead.' + i + '@beispiel.de', n: i % 3 ? 'Jürgen' : 'Anna-Lena', s: statuses[i % 4], c, p: 'before' };
      if (i % 2) m.g = 1;
      if (i % 5 === 0) m.nl = 1;
      if (m.s === 'confirmed') m.cf = c;
      if (sources[i % 5]) { m.us = sources[i % 5]; m.um = 'email'; m.uc = 'launch-2027'; }
      puts.push(env.LEADS.put('lead:' + id, JSON.stringify({ schema: 1, id, email: m.e }), { metadata: m }));
    }
    await Promise.all(puts);
    return new Response('ok');
  },
};`;

/** workerd processes of the preview server on `port` (same process group as its vite). */
function workerdPids(port) {
  const ps = execFileSync('ps', ['-eo', 'pid=,pgid=,args='], { encoding: 'utf8' });
  const lines = ps.split('\n').map((l) => l.trim().split(/\s+/));
  const vite = lines.find((l) => l.join(' ').includes('preview') && l.join(' ').includes(`--port ${port}`));
  if (!vite) return [];
  return lines
    .filter((l) => l[1] === vite[1] && l.slice(2).join(' ').includes('workerd'))
    .map((l) => Number(l[0]));
}

function rssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Counts CSV records: CRLF outside quotes. */
function countRecords(state, chunk) {
  for (let i = 0; i < chunk.length; i++) {
    const b = chunk[i];
    if (b === 0x22) state.quoted = !state.quoted;
    else if (b === 0x0a && !state.quoted) state.records += 1;
  }
}

export async function run({ log }) {
  const persistDir = mkdtempSync(join(tmpdir(), 'webinar-bench-export-'));
  let server;
  try {
    log(`seeding ${LEADS.toLocaleString('de-DE')} leads into ${persistDir} …`);
    const seedStart = Date.now();
    await seedLeads(persistDir, SEED_WORKER, LEADS, {}, log);
    log(`  seeding took ${((Date.now() - seedStart) / 1000).toFixed(1)} s`);

    server = await startServer({ port: PORT, persistDir, timeoutMs: 120_000 });
    const pids = workerdPids(PORT);
    const baselineKb = pids.reduce((s, p) => s + rssKb(p), 0);
    let peakKb = baselineKb;
    const sampler = setInterval(() => {
      peakKb = Math.max(
        peakKb,
        pids.reduce((s, p) => s + rssKb(p), 0),
      );
    }, 50);

    const started = performance.now();
    const res = await fetch(`${server.url}/api/admin/leads?format=csv`, {
      headers: { authorization: `Bearer ${OPS_TOKEN}` },
    });
    if (res.status !== 200) throw new Error(`export answered ${res.status}: ${await res.text()}`);
    let firstByteMs;
    let bytes = 0;
    const state = { records: 0, quoted: false };
    for await (const chunk of res.body) {
      firstByteMs ??= performance.now() - started;
      bytes += chunk.length;
      countRecords(state, chunk);
    }
    const totalMs = performance.now() - started;
    clearInterval(sampler);
    const rows = state.records - 1; // header

    // The worker logs its own KV read counts once the stream is done.
    let stats;
    for (let i = 0; i < 40 && !stats; i++) {
      const line = server
        .output()
        .split('\n')
        .find((l) => l.includes('"event":"export.done"'));
      if (line) stats = JSON.parse(line.slice(line.indexOf('{')));
      else await new Promise((r) => setTimeout(r, 100));
    }
    if (!stats) throw new Error('the worker did not log export.done');

    const maxLists = Math.ceil(LEADS / 1000) + 1;
    log(
      `  ${rows.toLocaleString('de-DE')} rows, ${(bytes / 1e6).toFixed(1)} MB in ${(totalMs / 1000).toFixed(2)} s`,
    );
    return {
      name: 'export',
      rows: [
        { metric: 'leads seeded', value: String(LEADS) },
        { metric: 'CSV rows written', value: String(rows), target: `= ${LEADS}`, pass: rows === LEADS },
        { metric: 'export time', value: `${(totalMs / 1000).toFixed(2)} s` },
        { metric: 'time to first byte', value: `${Math.round(firstByteMs ?? 0)} ms` },
        {
          metric: 'throughput',
          value: `${Math.round(rows / (totalMs / 1000)).toLocaleString('de-DE')} rows/s`,
        },
        {
          metric: 'KV list calls',
          value: String(stats.listCalls),
          target: `≤ ${maxLists}`,
          pass: stats.listCalls <= maxLists,
        },
        { metric: 'KV gets', value: String(stats.getCalls), target: '0', pass: stats.getCalls === 0 },
        {
          metric: 'workerd peak RSS',
          value: pids.length
            ? `${(peakKb / 1024).toFixed(0)} MB (+${((peakKb - baselineKb) / 1024).toFixed(0)} MB during export)`
            : 'not measurable (workerd not found)',
        },
      ],
    };
  } finally {
    await server?.stop();
    rmSync(persistDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await run({ log: (l = '') => console.log(l) });
  console.table(result.rows);
}
