/**
 * The giveaway draw in D1 (table `draws`): N winners among the eligible entries, chosen
 * with `crypto.getRandomValues` (rejection sampling, so every entry has exactly the same
 * chance). Docs: docs/decisions/023-giveaway-draw.md and 062-giveaway-draw-in-d1.md.
 *
 * Eligible (`ELIGIBLE_LEAD`): a confirmed lead (status `confirmed`) with a confirmed, not
 * withdrawn giveaway consent given before the config's `giveaway.deadline`, one entry per
 * canonical mailbox (its earliest such lead), mailbox not suppressed. One SQL query reads
 * the set in the same transaction as the series' earlier draws, so an erased lead is never
 * in it; the record is written only while every winner still exists.
 *
 * Series: one per giveaway deadline (`giveaway:<deadline ISO>`). UNIQUE (series_id, seq)
 * lets the database accept exactly one first draw (seq 1); a redraw needs a reason, gets
 * the next seq and never picks an earlier winner of the series. Two concurrent draws race
 * for the same seq and one fails on the constraint: it is answered like "already drawn".
 *
 * A record holds lead ids only; contact data is looked up when a draw is shown, for as
 * long as the lead exists.
 */
import type { DrawRecord } from '../src/admin/ops/api-types';
import { randomHex, sha256Hex } from './crypto';
import { getLeads } from './store/lead-store';
import { drawEventStatements } from './webhooks/outbox';

/** Winners at most per draw. */
export const MAX_WINNERS = 1000;

const entered = (a: string, deadline: string) =>
  `${a}.status = 'confirmed' AND EXISTS (SELECT 1 FROM consents ${a}g WHERE ${a}g.lead_id = ${a}.id
     AND ${a}g.kind = 'giveaway' AND ${a}g.status = 'confirmed' AND ${a}g.given_at < ${deadline})`;

/**
 * SQL condition on the lead `l`: it is the one eligible entry of its mailbox. `deadline`
 * is the parameter (e.g. `?1`) holding the deadline in ms. Shared with the export's
 * `eligible=1` filter, so ops can rebuild the set (and its hash) from an export.
 */
export const eligibleLead = (deadline: string) =>
  `(${entered('l', deadline)}
    AND NOT EXISTS (SELECT 1 FROM suppression s WHERE s.mailbox = l.mailbox)
    AND NOT EXISTS (SELECT 1 FROM leads e WHERE e.mailbox = l.mailbox
      AND (e.created_at < l.created_at OR (e.created_at = l.created_at AND e.id < l.id))
      AND ${entered('e', deadline)}))`;

/** The draw series of a giveaway: one first draw per deadline. */
export function seriesIdFor(deadline: string): string {
  return `giveaway:${new Date(Date.parse(deadline)).toISOString()}`;
}

/** sha256 (hex) of the eligible ids, sorted, joined with "\n": anyone with the list can check it. */
export function eligibleHash(ids: readonly string[]): Promise<string> {
  return sha256Hex([...ids].sort(byCodeUnit).join('\n'));
}

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Uniform integer in [0, n) from crypto.getRandomValues, without modulo bias. */
export function randomIndex(
  n: number,
  random: (buf: Uint32Array<ArrayBuffer>) => unknown = (buf) => crypto.getRandomValues(buf),
): number {
  if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) throw new RangeError('randomIndex: bad range');
  // Values at or above `limit` would make small remainders likelier: draw again.
  const limit = Math.floor(2 ** 32 / n) * n;
  const buf = new Uint32Array(1);
  for (;;) {
    random(buf);
    if (buf[0] < limit) return buf[0] % n;
  }
}

/** `k` distinct items, uniformly (partial Fisher–Yates on a copy). */
export function pickDistinct<T>(
  items: readonly T[],
  k: number,
  random?: (buf: Uint32Array<ArrayBuffer>) => unknown,
): T[] {
  const a = items.slice();
  for (let i = 0; i < k; i++) {
    const j = i + randomIndex(a.length - i, random);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, k);
}

/** A stored draw: the answer's shape, with lead ids only as winners. */
export type Draw = Omit<DrawRecord, 'winners'> & { winners: string[] };

interface DrawRow {
  id: string;
  series_id: string;
  seq: number;
  at: number;
  by: string;
  deadline: string;
  winners_requested: number;
  eligible_count: number;
  eligible_hash: string;
  winners: string;
  redraw_reason: string | null;
  replaces: string | null;
}

function toDraw(r: DrawRow): Draw {
  return {
    id: r.id,
    seriesId: r.series_id,
    seq: r.seq,
    at: new Date(r.at).toISOString(),
    by: r.by,
    deadline: r.deadline,
    winnersRequested: r.winners_requested,
    eligibleCount: r.eligible_count,
    eligibleHash: r.eligible_hash,
    winners: JSON.parse(r.winners) as string[],
    ...(r.redraw_reason !== null ? { redraw: { reason: r.redraw_reason, replaces: r.replaces ?? '' } } : {}),
  };
}

const ELIGIBLE_IDS = `SELECT l.id FROM leads l WHERE ${eligibleLead('?1')} ORDER BY l.id`;

/** The eligible lead ids for a deadline, sorted (one query). */
export async function eligibleIds(db: D1Database, deadlineMs: number): Promise<string[]> {
  const { results } = await db.prepare(ELIGIBLE_IDS).bind(deadlineMs).all<{ id: string }>();
  return results.map((r) => r.id);
}

export type DrawOutcome =
  | { ok: true; draw: Draw }
  | { ok: false; reason: 'already_drawn' }
  | { ok: false; reason: 'too_many'; eligibleCount: number }
  | { ok: false; reason: 'none_eligible' };

const isUniqueViolation = (error: unknown) =>
  error instanceof Error && /UNIQUE constraint failed/i.test(error.message);

/**
 * Draws and stores (see the module header). A second draw of a series needs
 * `redraw.reason`; it then records the draw it replaces and excludes every earlier winner.
 * Throws only when D1 fails.
 */
export async function drawWinners(
  db: D1Database,
  o: { winners: number; by: string; deadline: string; redraw?: { reason: string }; now?: Date },
  attempt = 1,
): Promise<DrawOutcome> {
  const seriesId = seriesIdFor(o.deadline);
  const deadlineMs = Date.parse(o.deadline);
  // Read both in one transaction: the set and the series it extends are one snapshot.
  const [series, eligible] = await db.batch<Record<string, unknown>>([
    db.prepare('SELECT * FROM draws WHERE series_id = ?1 ORDER BY seq').bind(seriesId),
    db.prepare(ELIGIBLE_IDS).bind(deadlineMs),
  ]);
  const earlier = (series.results as unknown as DrawRow[]).map(toDraw);
  const previous = earlier[earlier.length - 1];
  if (previous && !o.redraw) return { ok: false, reason: 'already_drawn' };
  const ids = eligible.results.map((r) => r.id as string);
  if (ids.length === 0) return { ok: false, reason: 'none_eligible' };
  const won = new Set(earlier.flatMap((d) => d.winners));
  const pool = ids.filter((id) => !won.has(id));
  if (o.winners > pool.length) return { ok: false, reason: 'too_many', eligibleCount: pool.length };

  const winners = pickDistinct(pool, o.winners);
  const draw: Draw = {
    id: randomHex(12),
    seriesId,
    seq: (previous?.seq ?? 0) + 1,
    at: (o.now ?? new Date()).toISOString(),
    by: o.by.slice(0, 254),
    deadline: o.deadline,
    winnersRequested: o.winners,
    eligibleCount: ids.length,
    eligibleHash: await eligibleHash(ids),
    winners,
    ...(previous && o.redraw
      ? { redraw: { reason: o.redraw.reason.slice(0, 300), replaces: previous.id } }
      : {}),
  };
  const list = JSON.stringify(winners);
  try {
    const insert = db
      .prepare(
        `INSERT INTO draws (id, series_id, seq, at, by, deadline, winners_requested, eligible_count,
           eligible_hash, winners, redraw_reason, replaces)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12
         WHERE (SELECT COUNT(*) FROM leads WHERE id IN (SELECT value FROM json_each(?10))) = ?13`,
      )
      .bind(
        draw.id,
        seriesId,
        draw.seq,
        Date.parse(draw.at),
        draw.by,
        draw.deadline,
        draw.winnersRequested,
        draw.eligibleCount,
        draw.eligibleHash,
        list,
        draw.redraw?.reason ?? null,
        draw.redraw?.replaces ?? null,
        winners.length,
      );
    // The webhook event (issue 16) in the same transaction: written only if the draw is.
    const [res] = await db.batch([insert, ...drawEventStatements(db, draw.id, Date.parse(draw.at))]);
    // A winner was erased between reading the set and writing the record: draw again from
    // the set as it is now (an erasure storm that outruns three draws is an error).
    if (!res.meta.changes) {
      if (attempt >= 3) throw new Error('draw: winners vanished three times in a row');
      return drawWinners(db, o, attempt + 1);
    }
  } catch (error) {
    if (isUniqueViolation(error)) return { ok: false, reason: 'already_drawn' };
    throw error;
  }
  return { ok: true, draw };
}

/** Past draws of every series, newest first (at most `limit`), and how many there are. */
export async function listDraws(db: D1Database, limit = 20): Promise<{ draws: Draw[]; total: number }> {
  const [rows, count] = await db.batch<Record<string, unknown>>([
    db.prepare('SELECT * FROM draws ORDER BY at DESC, seq DESC LIMIT ?1').bind(limit),
    db.prepare('SELECT COUNT(*) AS n FROM draws'),
  ]);
  return {
    draws: (rows.results as unknown as DrawRow[]).map(toDraw),
    total: Number(count.results[0]?.n ?? 0),
  };
}

/** Draws with their winners' current contact data (looked up, never stored in the draw). */
export async function withContacts(db: D1Database, draws: Draw[]): Promise<DrawRecord[]> {
  const ids = [...new Set(draws.flatMap((d) => d.winners))];
  const leads = new Map<string, { email: string; firstName: string }>();
  for (let i = 0; i < ids.length; i += MAX_WINNERS)
    for (const [id, l] of await getLeads(db, ids.slice(i, i + MAX_WINNERS))) leads.set(id, l);
  return draws.map((d) => ({
    ...d,
    winners: d.winners.map((leadId) => {
      const l = leads.get(leadId);
      return { leadId, ...(l ? { email: l.email, ...(l.firstName ? { firstName: l.firstName } : {}) } : {}) };
    }),
  }));
}
