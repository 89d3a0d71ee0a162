/**
 * Cron bench on D1 (module interface: see run.mjs). Seeds 500,000 confirmed leads
 * (BENCH_REMINDER_LEADS) into a fresh local D1 with the real migrations (generated in SQL
 * by one recursive INSERT per 100,000 through seed.mjs, so seeding takes seconds), starts the BUILT worker
 * bundle (dist/webinar_landing/index.js) in local workerd through Miniflare on that
 * database, and reports against the Workers Paid limits (docs/decisions/041-reminder-fanout.md):
 *
 * - the 5-minute cron at a time the 24-hour reminder is due: wall time, D1 statements,
 *   `sendBatch` calls and messages (logged by the worker as `reminders.fanned_out`);
 * - what one consumer invocation then does per slice: the slice query's time and size at
 *   this many leads, and the subrequests of a consumer batch of 50 slices;
 * - the hourly cron with 200,000 due unconfirmed leads (BENCH_PURGE_LEADS, each with a
 *   consent, an event and a mail claim): rows left (must be 0), chunks, D1 statements.
 *
 * No consumer runs, so the bench measures the cron runs, not 500,000 local mails.
 * `BENCH_REMINDER_LEADS=20000 BENCH_PURGE_LEADS=10000 npm run bench reminders` for a quick
 * run; `node tests/bench/reminders.mjs` runs it alone and exits 1 when a limit is exceeded.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import { ROOT } from '../helpers/server.mjs';
import { seedD1 } from './seed.mjs';

const CONFIRMED = Number(process.env.BENCH_REMINDER_LEADS ?? 500_000);
const PURGE = Number(process.env.BENCH_PURGE_LEADS ?? 200_000);
/** Recent unconfirmed leads that the purge must keep. */
const KEEP = Math.max(10, Math.round(PURGE / 100));
const DAY = 86_400_000;
/** Workers Paid: D1 queries per invocation; subrequests counted against the older 1000. */
const D1_QUERIES_MAX = 1000;
const SUBREQUESTS_MAX = 1000;
const D1_STATEMENT_MAX_MS = 30_000;
/** Consumer batch size of the mail queue (wrangler.toml max_batch_size). */
const CONSUMER_BATCH = 50;

/** Rows generated in SQL: `count` leads from `offset`, all with one status and creation time. */
function seedLeadsSql(status, count, offset, createdMs) {
  const confirmedAt = status === 'confirmed' ? 'c' : 'NULL';
  return `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ${count}),
    rows(id, c, i) AS (SELECT lower(hex(randomblob(32))), ${createdMs} + i, i FROM n)
    INSERT INTO leads (id, mailbox, email, first_name, status, phase, created_at, updated_at, confirmed_at)
    SELECT id, lower(hex(randomblob(32))), 'bench.cron.' || (i + ${offset}) || '@beispiel.de', 'Bench',
      '${status}', 'before', c, c, ${confirmedAt} FROM rows`;
}

/** A consent, an event and a sent confirmation for every pending lead, as registration leaves them. */
const PENDING_CHILDREN = [
  `INSERT INTO consents (lead_id, kind, status, text_version, text, given_at, given_ip, given_ua)
   SELECT id, 'privacy', 'pending', 'v1', 'Datenschutzhinweis', created_at, '192.0.2.1', 'bench' FROM leads WHERE status = 'pending'`,
  `INSERT INTO lead_events (lead_id, type, at) SELECT id, 'registered', created_at FROM leads WHERE status = 'pending'`,
  `INSERT INTO mail_sends (lead_id, kind, ref, claimed_at, claim_until, sent_at)
   SELECT id, 'confirm', 'new', created_at, created_at, created_at FROM leads WHERE status = 'pending'`,
];

/** The BUILT worker bundle in Miniflare on the seeded D1, with the real queue producers. */
function startWorker(persistDir) {
  const wrangler = JSON.parse(readFileSync(join(ROOT, 'dist/webinar_landing/wrangler.json'), 'utf8'));
  let output = '';
  const mf = new Miniflare({
    scriptPath: join(ROOT, 'dist/webinar_landing/index.js'),
    modules: true,
    modulesRules: [{ type: 'ESModule', include: ['**/*.js'] }],
    compatibilityDate: wrangler.compatibility_date,
    compatibilityFlags: wrangler.compatibility_flags,
    d1Databases: { DB: wrangler.d1_databases[0].database_id },
    d1Persist: join(persistDir, 'v3', 'd1'),
    kvNamespaces: Object.fromEntries(wrangler.kv_namespaces.map((k) => [k.binding, k.id])),
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

/** The JSON of the worker's first log line with this event, waiting for the log to flush. */
async function logged(worker, event) {
  for (let i = 0; i < 100; i++) {
    const line = worker
      .output()
      .split('\n')
      .find((l) => l.includes(`"event":"${event}"`));
    if (line) return JSON.parse(line.slice(line.indexOf('{')));
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the worker did not log ${event}:\n${worker.output().slice(-2000)}`);
}

async function scheduled(fetcher, worker, cron, scheduledTime) {
  const started = performance.now();
  const result = await fetcher.scheduled({ cron, scheduledTime });
  const ms = performance.now() - started;
  if (result.outcome !== 'ok')
    throw new Error(`scheduled ${cron} ended with ${result.outcome}:\n${worker.output()}`);
  return ms;
}

const fmt = (n) => n.toLocaleString('de-DE');
const secs = (ms) => `${(ms / 1000).toFixed(2)} s`;

export async function run({ log }) {
  const content = JSON.parse(readFileSync(join(ROOT, 'src/content/webinar.json'), 'utf8'));
  const startMs = Date.parse(content.webinar.start);
  const persistDir = mkdtempSync(join(tmpdir(), 'webinar-bench-cron-'));
  let worker;
  try {
    log(`seeding ${fmt(CONFIRMED)} confirmed, ${fmt(PURGE)} due and ${fmt(KEEP)} recent unconfirmed leads …`);
    const seedStart = Date.now();
    const now = Date.now();
    const chunks = (status, total, offset, createdMs) =>
      Array.from({ length: Math.ceil(total / 100_000) }, (_, i) =>
        seedLeadsSql(status, Math.min(100_000, total - i * 100_000), offset + i * 100_000, createdMs),
      );
    await seedD1(
      persistDir,
      [
        ...chunks('confirmed', CONFIRMED, 0, now - 60 * DAY),
        ...chunks('pending', PURGE, CONFIRMED, now - 40 * DAY),
        seedLeadsSql('pending', KEEP, CONFIRMED + PURGE, now - 2 * DAY),
        ...PENDING_CHILDREN,
      ],
      log,
    );
    log(`  seeding took ${secs(Date.now() - seedStart)}`);
    worker = startWorker(persistDir);
    const db = await worker.mf.getD1Database('DB');

    // --- the 5-minute cron: 23 hours before the start the 24-hour reminder is due.
    const fetcher = await worker.mf.getWorker();
    const fanoutMs = await scheduled(fetcher, worker, '*/5 * * * *', new Date(startMs - 23 * 3_600_000));
    const fan = await logged(worker, 'reminders.fanned_out');
    const fanSubrequests = fan.d1Queries + fan.sendBatchCalls;
    log(
      `  fan-out: ${fan.messages} slice messages in ${fan.sendBatchCalls} sendBatch calls, ` +
        `${fan.d1Queries} D1 statements, ${secs(fanoutMs)}`,
    );

    // --- what the consumer does per slice at this many leads (its own query, timed here).
    const slices = Array.from({ length: 16 }, (_, i) => (i * 256).toString(16).padStart(3, '0'));
    let sliceMax = 0;
    let sliceMs = 0;
    for (const from of slices) {
      const to = (parseInt(from, 16) + 1).toString(16).padStart(3, '0');
      const t = performance.now();
      const { results } = await db
        .prepare(`SELECT id FROM leads WHERE status = 'confirmed' AND id >= ?1 AND id < ?2 ORDER BY id`)
        .bind(from, to)
        .all();
      sliceMs = Math.max(sliceMs, performance.now() - t);
      sliceMax = Math.max(sliceMax, results.length);
    }
    const perSlice = 1 + Math.ceil(sliceMax / 100);
    const consumerSubrequests = CONSUMER_BATCH * perSlice;
    log(`  largest sampled slice: ${sliceMax} confirmed leads, query ${sliceMs.toFixed(1)} ms`);

    // --- the hourly cron: sweep, purge, audit purge.
    const purgeMs = await scheduled(fetcher, worker, '17 * * * *', new Date(now));
    const purge = await logged(worker, 'reminders.purged');
    const count = async (sql) => (await db.prepare(sql).first()).n;
    const dueLeft = await count(
      `SELECT COUNT(*) AS n FROM leads WHERE status = 'pending' AND created_at < ${now - 30 * DAY}`,
    );
    const orphans = await count(
      `SELECT (SELECT COUNT(*) FROM consents WHERE lead_id NOT IN (SELECT id FROM leads))
            + (SELECT COUNT(*) FROM lead_events WHERE lead_id NOT IN (SELECT id FROM leads))
            + (SELECT COUNT(*) FROM mail_sends WHERE lead_id NOT IN (SELECT id FROM leads)) AS n`,
    );
    const kept = await count(`SELECT COUNT(*) AS n FROM leads WHERE status = 'pending'`);
    const confirmedLeft = await count(`SELECT COUNT(*) AS n FROM leads WHERE status = 'confirmed'`);
    log(
      `  purge: ${fmt(purge.purged)} leads in ${purge.chunks} chunks, ${purge.d1Queries} D1 statements, ${secs(purgeMs)}`,
    );

    return {
      name: 'reminders',
      rows: [
        { metric: 'confirmed leads', value: fmt(CONFIRMED) },
        {
          metric: 'fan-out: slice messages',
          value: String(fan.messages),
          target: '= 4096',
          pass: fan.messages === 4096,
        },
        { metric: 'fan-out: cron run, wall time', value: secs(fanoutMs) },
        {
          metric: 'fan-out: D1 statements',
          value: String(fan.d1Queries),
          target: `≤ ${D1_QUERIES_MAX}`,
          pass: fan.d1Queries <= D1_QUERIES_MAX,
        },
        {
          metric: 'fan-out: sendBatch calls (≤ 100 messages each)',
          value: String(fan.sendBatchCalls),
          target: `= ${Math.ceil(fan.messages / 100)}`,
          pass: fan.sendBatchCalls === Math.ceil(fan.messages / 100),
        },
        {
          metric: 'fan-out: subrequests in the cron run',
          value: String(fanSubrequests),
          target: `≤ ${SUBREQUESTS_MAX}`,
          pass: fanSubrequests <= SUBREQUESTS_MAX,
        },
        { metric: 'consumer: leads in the largest sampled slice', value: String(sliceMax) },
        {
          metric: 'consumer: slice query',
          value: `${sliceMs.toFixed(1)} ms`,
          target: `< ${D1_STATEMENT_MAX_MS / 1000} s`,
          pass: sliceMs < D1_STATEMENT_MAX_MS,
        },
        {
          metric: `consumer: subrequests for a batch of ${CONSUMER_BATCH} slices`,
          value: String(consumerSubrequests),
          target: `≤ ${SUBREQUESTS_MAX}`,
          pass: consumerSubrequests <= SUBREQUESTS_MAX,
        },
        { metric: 'purge: due unconfirmed leads', value: fmt(PURGE) },
        {
          metric: 'purge: leads purged in one hourly run',
          value: fmt(purge.purged),
          target: `= ${fmt(PURGE)}`,
          pass: purge.purged === PURGE && !purge.more,
        },
        { metric: 'purge: due rows left', value: String(dueLeft), target: '= 0', pass: dueLeft === 0 },
        {
          metric: 'purge: orphaned consents/events/claims',
          value: String(orphans),
          target: '= 0',
          pass: orphans === 0,
        },
        {
          metric: 'purge: recent unconfirmed and confirmed leads kept',
          value: `${fmt(kept)} / ${fmt(confirmedLeft)}`,
          target: `= ${fmt(KEEP)} / ${fmt(CONFIRMED)}`,
          pass: kept === KEEP && confirmedLeft === CONFIRMED,
        },
        { metric: 'purge: chunks (5,000 leads each)', value: String(purge.chunks) },
        {
          metric: 'purge: D1 statements',
          value: String(purge.d1Queries),
          target: `≤ ${D1_QUERIES_MAX / 2} (half the invocation's budget)`,
          pass: purge.d1Queries <= D1_QUERIES_MAX / 2,
        },
        { metric: 'hourly cron run, wall time', value: secs(purgeMs) },
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
  if (result.rows.some((r) => r.pass === false)) {
    console.error('A limit was exceeded (FAIL above).');
    process.exitCode = 1;
  }
}
