/**
 * Export bench (module interface: see run.mjs): seeds 100,000 leads with their consents
 * into a fresh local D1, then exports them as CSV through `GET /api/admin/leads` of the
 * built app (vite preview → workerd) and reports the time, the D1 queries the export made
 * (pages of 1000: ≤ 101 queries, and D1's rows read, both logged by the worker as
 * `export.done`), workerd's peak memory during the export, and the rows written (= leads
 * seeded).
 *
 * Seeding runs SQL into the temp persist dir before the server starts (tests/bench/seed.mjs:
 * the migrations, then rows generated inside SQLite); the app's server is started on that
 * dir afterwards. `BENCH_LEADS=10000 npm run bench export` for a quick run.
 * Run alone: `node tests/bench/export.mjs` (exits 1 when a target is missed).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedD1 } from './seed.mjs';
import { startServer } from '../helpers/server.mjs';

const LEADS = Number(process.env.BENCH_LEADS ?? 100_000);
const PORT = Number(process.env.BENCH_EXPORT_PORT ?? 4450);
const OPS_TOKEN = 'dev-only-ops-token-0123456789abcdef';
const CHUNK = 100_000;

/**
 * `count` leads from number `offset` on, generated in SQL: a quarter pending, half
 * confirmed, a quarter unsubscribed; four in five with UTM values; names with umlauts.
 */
function leadsSql(count, offset) {
  return `WITH RECURSIVE n(i) AS (SELECT ${offset} UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ${offset + count}),
    rows AS (SELECT i, ${Date.UTC(2026, 10, 1)} + (i % 30) * 86400000 + i AS c,
      CASE i % 4 WHEN 0 THEN 'pending' WHEN 3 THEN 'unsubscribed' ELSE 'confirmed' END AS s,
      CASE i % 5 WHEN 0 THEN 'newsletter' WHEN 1 THEN 'facebook' WHEN 2 THEN 'podcast' WHEN 4 THEN 'google' END AS src
      FROM n)
    INSERT INTO leads (id, mailbox, email, first_name, status, phase, created_at, updated_at, confirmed_at,
      unsubscribed_at, utm_source, utm_medium, utm_campaign)
    SELECT lower(hex(randomblob(32))), lower(hex(randomblob(32))), 'bench.lead.' || i || '@beispiel.de',
      CASE WHEN i % 3 THEN 'Jürgen' ELSE 'Anna-Lena' END, s, 'before', c, c,
      CASE WHEN s = 'pending' THEN NULL ELSE c + 3600000 END, CASE WHEN s = 'unsubscribed' THEN c + 7200000 END,
      src, CASE WHEN src IS NOT NULL THEN 'email' END, CASE WHEN src IS NOT NULL THEN 'launch-2027' END
    FROM rows`;
}

/** Consents as registration, confirmation and unsubscribing leave them: privacy for all, giveaway for half, newsletter for a fifth. */
function consentsSql(kind, where) {
  const status =
    kind === 'giveaway'
      ? "CASE status WHEN 'pending' THEN 'pending' ELSE 'confirmed' END"
      : "CASE status WHEN 'pending' THEN 'pending' WHEN 'confirmed' THEN 'confirmed' ELSE 'withdrawn' END";
  return `INSERT INTO consents (lead_id, kind, status, text_version, text, given_at, given_ip, given_ua,
      confirmed_at, confirmed_ip, confirmed_ua, withdrawn_at)
    SELECT id, '${kind}', ${status}, 'bench-1', 'Einwilligungstext', created_at, '192.0.2.1', 'bench',
      confirmed_at, CASE WHEN confirmed_at IS NOT NULL THEN '192.0.2.2' END, CASE WHEN confirmed_at IS NOT NULL THEN 'bench' END,
      CASE WHEN ${status} = 'withdrawn' THEN unsubscribed_at END
    FROM leads WHERE ${where}`;
}

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
    const statements = [];
    for (let from = 0; from < LEADS; from += CHUNK)
      statements.push(leadsSql(Math.min(CHUNK, LEADS - from), from));
    statements.push(
      consentsSql('privacy', '1'),
      consentsSql('giveaway', 'rowid % 2 = 1'),
      consentsSql('newsletter', 'rowid % 5 = 0'),
    );
    await seedD1(persistDir, statements, log);
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

    // The worker logs its own D1 query counts once the stream is done.
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

    const maxQueries = Math.ceil(LEADS / 1000) + 1;
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
          metric: 'D1 queries',
          value: String(stats.queries),
          target: `≤ ${maxQueries}`,
          pass: stats.queries <= maxQueries,
        },
        { metric: 'D1 rows read', value: Number(stats.rowsRead).toLocaleString('de-DE') },
        {
          metric: 'export complete',
          value: String(stats.complete),
          target: 'true',
          pass: stats.complete === true,
        },
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
  if (result.rows.some((r) => r.pass === false)) process.exit(1);
}
