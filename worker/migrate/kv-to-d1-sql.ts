/**
 * The storage side of the KV → D1 move (worker/migrate/kv-to-d1.ts): counted KV reads,
 * and the D1 writes. Each page's rows go in
 * as JSON arrays through `json_each`, one statement per table whatever the page size
 * (D1 binds at most 100 parameters), with INSERT OR IGNORE or NOT EXISTS so a re-run adds
 * nothing twice, and the last statement of the same batch reads back what is there.
 */
import * as v from 'valibot';
import { leadKeys } from '../store/lead-keys';
import * as L from './legacy-kv';

/** What a call saw and did per kind (summed by the CLI over all calls). */
export interface KindCount {
  seen: number;
  moved: number;
  skipped: number;
  missing: number;
}
export type MigrationCounts = Record<L.LegacyKind | 'config', KindCount>;

export function emptyCounts(): MigrationCounts {
  const zero = (): KindCount => ({ seen: 0, moved: 0, skipped: 0, missing: 0 });
  return Object.fromEntries([...L.LEGACY_KINDS, 'config'].map((p) => [p, zero()])) as MigrationCounts;
}

/** One call's state: bindings, counts so far and the operations spent. */
export interface Ctx {
  env: Env;
  kv: KVNamespace;
  secret: string;
  now: number;
  ops: number;
  counts: MigrationCounts;
  pointer?: number;
}

type Row = Record<string, string | number | null>;

export interface Rows {
  rows?: L.LeadRows[];
  sends?: Row[];
  letters?: Row[];
  suppressions?: Row[];
  fanouts?: Row[];
  audit?: Row[];
}

export interface Found {
  leads: Set<string>;
  sends: number;
  letters: number;
  suppressions: number;
  fanouts: number;
  audit: number;
}

/** Values of many keys, 100 per bulk read (one KV operation each). */
export async function bulk(ctx: Ctx, keys: string[]): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  for (let i = 0; i < keys.length; i += 100) {
    const got = await ctx.kv.get(keys.slice(i, i + 100), 'text');
    ctx.ops += 1;
    for (const [k, val] of got) out.set(k, val);
  }
  return out;
}

export async function list<M = unknown>(ctx: Ctx, prefix: string, limit: number, cursor?: string) {
  const page = await ctx.kv.list<M>({ prefix, limit, ...(cursor ? { cursor } : {}) });
  ctx.ops += 1;
  return { keys: page.keys, next: page.list_complete ? undefined : page.cursor };
}

export function json(text: string | null | undefined): unknown {
  if (text == null) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `json_extract(j.value, '$.col') AS col, …` for a derived table over `json_each(?n)`. */
const from = (cols: string[], param: number) =>
  `(SELECT ${cols.map((c) => `json_extract(j.value, '$.${c}') AS ${c}`).join(', ')} FROM json_each(?${param}) j) x`;

const LEAD_COLS = [
  'id',
  'mailbox',
  'email',
  'first_name',
  'status',
  'phase',
  'created_at',
  'updated_at',
  'confirmed_at',
  'unsubscribed_at',
  'utm_source',
  'utm_medium',
  'utm_campaign',
  'utm_term',
  'utm_content',
  'referrer',
  'landing_path',
];
const CONSENT_COLS = [
  'lead_id',
  'kind',
  'status',
  'text_version',
  'note',
  'given_at',
  'given_ip',
  'given_ua',
  'confirmed_at',
  'confirmed_ip',
  'confirmed_ua',
  'withdrawn_at',
];

const SQL = {
  leads: `INSERT OR IGNORE INTO leads (${LEAD_COLS.join(', ')}) SELECT * FROM ${from(LEAD_COLS, 1)}`,
  // The old store did not keep the texts: '' with the note says so (decision 065).
  consents: `INSERT OR IGNORE INTO consents (${CONSENT_COLS.join(', ')}, text)
    SELECT x.*, '' FROM ${from(CONSENT_COLS, 1)}
    WHERE NOT EXISTS (SELECT 1 FROM consents c WHERE c.lead_id = x.lead_id AND c.kind = x.kind)`,
  events: `INSERT INTO lead_events (lead_id, type, at, detail) SELECT * FROM ${from(['lead_id', 'type', 'at', 'detail'], 1)}
    WHERE NOT EXISTS (SELECT 1 FROM lead_events e WHERE e.lead_id = x.lead_id AND e.type = x.type)`,
  sends: `INSERT OR IGNORE INTO mail_sends (lead_id, kind, ref, claimed_at, claim_until, sent_at, mailbox, domain)
    SELECT lead_id, kind, ref, at, at, at, mailbox, domain FROM ${from(['lead_id', 'kind', 'ref', 'at', 'mailbox', 'domain'], 1)}`,
  letters: `INSERT OR IGNORE INTO dead_letters (key, kind, lead_id, reason, attempts, failed_at, body)
    SELECT * FROM ${from(['key', 'kind', 'lead_id', 'reason', 'attempts', 'failed_at', 'body'], 1)}`,
  suppressions: `INSERT OR IGNORE INTO suppression (mailbox, at, by) SELECT * FROM ${from(['mailbox', 'at', 'by'], 1)}`,
  fanouts: `INSERT OR IGNORE INTO fanouts (kind, start_ms, status, lease_until, enqueued, updated_at)
    SELECT kind, start_ms, status, 0, enqueued, updated_at FROM ${from(['kind', 'start_ms', 'status', 'enqueued', 'updated_at'], 1)}`,
  audit: `INSERT INTO audit_log (at, role, actor, action, detail)
    SELECT at, role, actor, action, detail FROM ${from(['at', 'role', 'actor', 'action', 'detail', 'key'], 1)}
    WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.at = x.at AND json_extract(a.detail, '$.kvKey') = x.key)`,
  found: `SELECT
    (SELECT json_group_array(id) FROM leads WHERE id IN (SELECT json_extract(value, '$.id') FROM json_each(?1))) AS leads,
    (SELECT COUNT(*) FROM json_each(?2) j WHERE EXISTS (SELECT 1 FROM mail_sends s
      WHERE s.lead_id = json_extract(j.value, '$.lead_id') AND s.kind = json_extract(j.value, '$.kind')
        AND s.ref = json_extract(j.value, '$.ref'))) AS sends,
    (SELECT COUNT(*) FROM json_each(?3) j
      WHERE EXISTS (SELECT 1 FROM dead_letters d WHERE d.key = json_extract(j.value, '$.key'))) AS letters,
    (SELECT COUNT(*) FROM json_each(?4) j
      WHERE EXISTS (SELECT 1 FROM suppression s WHERE s.mailbox = json_extract(j.value, '$.mailbox'))) AS suppressions,
    (SELECT COUNT(*) FROM json_each(?5) j WHERE EXISTS (SELECT 1 FROM fanouts f
      WHERE f.kind = json_extract(j.value, '$.kind') AND f.start_ms = json_extract(j.value, '$.start_ms'))) AS fanouts,
    (SELECT COUNT(*) FROM json_each(?6) j WHERE EXISTS (SELECT 1 FROM audit_log a
      WHERE a.at = json_extract(j.value, '$.at') AND json_extract(a.detail, '$.kvKey') = json_extract(j.value, '$.key'))) AS audit`,
};

/** Writes a page's rows in one batch (one transaction) and reads back what is stored. */
export async function insertRows(ctx: Ctx, r: Rows): Promise<Found> {
  const db = ctx.env.DB;
  const leads = (r.rows ?? []).map((x) => x.lead);
  const lists: [keyof typeof SQL, unknown[]][] = [
    ['leads', leads],
    ['consents', (r.rows ?? []).flatMap((x) => x.consents)],
    ['events', (r.rows ?? []).flatMap((x) => x.events)],
    ['sends', r.sends ?? []],
    ['letters', r.letters ?? []],
    ['suppressions', r.suppressions ?? []],
    ['fanouts', r.fanouts ?? []],
    ['audit', r.audit ?? []],
  ];
  const writes = lists
    .filter(([, rows]) => rows.length)
    .map(([sql, rows]) => db.prepare(SQL[sql]).bind(JSON.stringify(rows)));
  const check = db
    .prepare(SQL.found)
    .bind(
      JSON.stringify(leads),
      JSON.stringify(r.sends ?? []),
      JSON.stringify(r.letters ?? []),
      JSON.stringify(r.suppressions ?? []),
      JSON.stringify(r.fanouts ?? []),
      JSON.stringify(r.audit ?? []),
    );
  const results = await db.batch<Record<string, number | string>>([...writes, check]);
  ctx.ops += writes.length + 1;
  const row = results[results.length - 1].results[0];
  return {
    leads: new Set(JSON.parse(String(row.leads ?? '[]')) as string[]),
    sends: Number(row.sends),
    letters: Number(row.letters),
    suppressions: Number(row.suppressions),
    fanouts: Number(row.fanouts),
    audit: Number(row.audit),
  };
}

/** A giveaway's draw series, as worker/giveaway-draw.ts names it: one per deadline. */
const seriesOf = (deadline: string) => `giveaway:${new Date(Date.parse(deadline)).toISOString()}`;

/**
 * One page of `draw:` records, oldest first (keys start with the ISO time): each gets the
 * next sequence number of its series, its winners their new lead ids (recomputed from the
 * address the record kept), a redraw the id of the draw it replaced.
 */
export async function copyDraws(ctx: Ctx, cursor?: string): Promise<string | undefined> {
  const prefix = L.LEGACY_PREFIXES.draw;
  const page = await ctx.kv.list({ prefix, limit: 100, ...(cursor ? { cursor } : {}) });
  const keys = page.keys.map((k) => k.name).sort();
  const values = keys.length ? await ctx.kv.get(keys, 'text') : new Map<string, string | null>();
  ctx.ops += keys.length ? 2 : 1;
  const c = ctx.counts.draw;
  c.seen += keys.length;
  const db = ctx.env.DB;
  const statements: D1PreparedStatement[] = [];
  const ids: string[] = [];
  for (const key of keys) {
    let raw: unknown;
    try {
      raw = JSON.parse(values.get(key) ?? 'null');
    } catch {
      raw = null;
    }
    const d = v.safeParse(L.LegacyDraw, raw);
    if (!d.success) {
      c.skipped += 1;
      continue;
    }
    const draw = d.output;
    const id = await L.drawId(key);
    const winners = await Promise.all(
      draw.winners.map(async (w) => (await leadKeys(w.email, ctx.secret)).id),
    );
    const series = seriesOf(draw.deadline);
    ids.push(id);
    statements.push(
      db
        .prepare(
          `INSERT OR IGNORE INTO draws (id, series_id, seq, at, by, deadline, winners_requested, eligible_count,
             eligible_hash, winners, redraw_reason, replaces)
           SELECT ?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM draws WHERE series_id = ?2), ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11
           WHERE NOT EXISTS (SELECT 1 FROM draws WHERE id = ?1)`,
        )
        .bind(
          id,
          series,
          Date.parse(draw.at),
          draw.by.slice(0, 254),
          draw.deadline,
          draw.winnersRequested,
          draw.eligibleCount,
          draw.eligibleHash,
          JSON.stringify(winners),
          draw.redraw?.reason.slice(0, 300) ?? null,
          draw.redraw ? await L.drawId(draw.redraw.previous) : null,
        ),
    );
  }
  if (ids.length) {
    statements.push(
      db
        .prepare('SELECT COUNT(*) AS n FROM draws WHERE id IN (SELECT value FROM json_each(?1))')
        .bind(JSON.stringify(ids)),
    );
    const results = await db.batch<{ n: number }>(statements);
    ctx.ops += statements.length;
    const n = results[results.length - 1].results[0].n;
    c.moved += n;
    c.missing += ids.length - n;
  }
  return page.list_complete ? undefined : page.cursor;
}
