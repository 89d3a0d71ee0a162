/**
 * Reminder fan-out bench (module interface: see run.mjs): seeds 100,000 confirmed leads
 * (plus some pending ones that must be left out) into a fresh local KV, starts the built
 * worker bundle (dist/webinar_landing/index.js) in local workerd through Miniflare with
 * that KV and the real queue producers, runs the 5-minute cron at a time when the 24-hour
 * reminder is due, and reports the time the fan-out took and the KV and queue operations it
 * made (logged by the worker as `reminders.fanned_out`). The wall time includes the 1.1 s the
 * worker waits between two writes of its state key (KV: one write per second per key). No
 * consumer runs, so the bench measures the enqueueing, not 100,000 local mails.
 * See docs/decisions/041-reminder-fanout.md.
 *
 * `BENCH_REMINDER_LEADS=10000 npm run bench reminders` for a quick run.
 * Run alone: `node tests/bench/reminders.mjs`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import { LEADS_NAMESPACE, seedLeads } from './seed.mjs';
import { ROOT } from '../helpers/server.mjs';

const CONFIRMED = Number(process.env.BENCH_REMINDER_LEADS ?? 100_000);
const PENDING = Math.round(CONFIRMED / 20);
/** The LEADS namespace id from wrangler.toml: local storage is keyed by it. */

/** Leads as the real store writes them, with only the metadata the fan-out reads mattering. */
const SEED_WORKER = `
export default {
  async fetch(req, env) {
    const { from, to, confirmed } = await req.json();
    const puts = [];
    for (let i = from; i < to; i++) {
      const id = i.toString(16).padStart(8, '0') + 'c'.repeat(56);
      const c = new Date(Date.UTC(2026, 10, 1) + i).toISOString();
      const s = i < confirmed ? 'confirmed' : 'pending';
      const m = { e: 'bench.reminder.' + i + '@beispiel.de', s, c, p: 'before' };
      if (s === 'confirmed') m.cf = c;
      puts.push(env.LEADS.put('lead:' + id, JSON.stringify({ schema: 1, id, email: m.e, status: s, createdAt: c }), { metadata: m }));
    }
    await Promise.all(puts);
    return new Response('ok');
  },
};`;

/** Starts the BUILT worker bundle in Miniflare on the seeded KV, with the real queue producers. */
async function startWorker(persistDir) {
  const wrangler = JSON.parse(readFileSync(join(ROOT, 'dist/webinar_landing/wrangler.json'), 'utf8'));
  let output = '';
  const mf = new Miniflare({
    scriptPath: join(ROOT, 'dist/webinar_landing/index.js'),
    modules: true,
    compatibilityDate: wrangler.compatibility_date,
    compatibilityFlags: wrangler.compatibility_flags,
    kvNamespaces: { LEADS: LEADS_NAMESPACE, CONTENT: '00000000000000000000000000000002' },
    kvPersist: join(persistDir, 'v3', 'kv'),
    queueProducers: { MAIL_QUEUE: 'webinar-mail', MAIL_DLQ: 'webinar-mail-dlq' },
    bindings: {
      ...wrangler.vars,
      LEAD_KEY_SECRET: 'bench-lead-key-secret-0123456789abcdef',
      MAIL_TOKEN_SECRET: 'bench-mail-token-secret-0123456789abcdef',
    },
    handleRuntimeStdio(stdout, stderr) {
      stdout.on('data', (d) => (output += d));
      stderr.on('data', (d) => (output += d));
    },
  });
  return { mf, output: () => output };
}

export async function run({ log }) {
  const content = JSON.parse(readFileSync(join(ROOT, 'src/content/webinar.json'), 'utf8'));
  const startMs = Date.parse(content.webinar.start);
  const persistDir = mkdtempSync(join(tmpdir(), 'webinar-bench-reminders-'));
  let worker;
  try {
    log(
      `seeding ${CONFIRMED.toLocaleString('de-DE')} confirmed and ${PENDING.toLocaleString('de-DE')} pending leads …`,
    );
    const seedStart = Date.now();
    await seedLeads(persistDir, SEED_WORKER, CONFIRMED + PENDING, { confirmed: CONFIRMED }, log);
    log(`  seeding took ${((Date.now() - seedStart) / 1000).toFixed(1)} s`);

    // `vite preview` does not pass /cdn-cgi/handler/scheduled on to a worker with static
    // assets, so the built bundle runs in Miniflare here, with the same KV and queues.
    worker = await startWorker(persistDir);
    const fetcher = await worker.mf.getWorker();
    // 23 hours before the start: the 24-hour reminder is due.
    const scheduledTime = new Date(startMs - 23 * 3_600_000);
    const started = performance.now();
    const result = await fetcher.scheduled({ cron: '*/5 * * * *', scheduledTime });
    const totalMs = performance.now() - started;
    if (result.outcome !== 'ok')
      throw new Error(`scheduled ended with ${result.outcome}:\n${worker.output()}`);

    let stats;
    for (let i = 0; i < 50 && !stats; i++) {
      const line = worker
        .output()
        .split('\n')
        .find((l) => l.includes('"event":"reminders.fanned_out"'));
      if (line) stats = JSON.parse(line.slice(line.indexOf('{')));
      else await new Promise((r) => setTimeout(r, 100));
    }
    if (!stats)
      throw new Error(`the worker did not log reminders.fanned_out:\n${worker.output().slice(-2000)}`);

    const pages = Math.ceil((CONFIRMED + PENDING) / 1000);
    const kvOps = stats.listCalls + stats.kvGets + stats.kvWrites;
    const subrequests = kvOps + stats.sendBatchCalls;
    log(
      `  ${stats.leads.toLocaleString('de-DE')} leads in ${stats.messages} fan-out messages, ` +
        `${stats.sendBatchCalls} sendBatch calls, ${(totalMs / 1000).toFixed(2)} s`,
    );
    return {
      name: 'reminders',
      rows: [
        { metric: 'confirmed leads', value: String(CONFIRMED) },
        {
          metric: 'leads reminded',
          value: String(stats.leads),
          target: `= ${CONFIRMED}`,
          pass: stats.leads === CONFIRMED,
        },
        { metric: 'cron run, wall time', value: `${(totalMs / 1000).toFixed(2)} s` },
        {
          metric: 'fan-out work (list + enqueue)',
          value: `${(stats.workMs / 1000).toFixed(2)} s`,
        },
        {
          metric: 'KV list calls',
          value: String(stats.listCalls),
          target: `≤ ${pages}`,
          pass: stats.listCalls <= pages,
        },
        { metric: 'KV gets / writes', value: `${stats.kvGets} / ${stats.kvWrites}` },
        {
          metric: 'queue sendBatch calls',
          value: String(stats.sendBatchCalls),
          target: `≤ ${pages}`,
          pass: stats.sendBatchCalls <= pages,
        },
        { metric: 'queue messages (≤ 100 leads each)', value: String(stats.messages) },
        {
          metric: 'KV operations in the cron run',
          value: String(kvOps),
          target: '≤ 1000',
          pass: kvOps <= 1000,
        },
        {
          metric: 'subrequests in the cron run',
          value: String(subrequests),
          target: '≤ 1000',
          pass: subrequests <= 1000,
        },
      ],
    };
  } finally {
    await worker?.mf.dispose();
    rmSync(persistDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await run({ log: (l = '') => console.log(l) });
  console.table(result.rows);
}
