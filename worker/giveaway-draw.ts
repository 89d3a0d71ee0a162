/**
 * The giveaway draw: N winners among the eligible leads, chosen with
 * `crypto.getRandomValues` (rejection sampling, so every entry has exactly the same
 * chance), recorded in KV so a draw cannot be silently repeated.
 *
 * Eligible (docs/decisions/023-giveaway-draw.md): giveaway entry with terms accepted
 * (metadata `g`), status `confirmed` (double opt-in), registered before the config's
 * `giveaway.deadline`, not erased (no lead key; also not on the suppression list, in
 * case an erasure stopped half-way).
 *
 * Records: `draw:<iso time>:<random>` holds the full record (winners with email, for ops);
 * its metadata a summary without any address. Reads are list-only.
 */
import type { DrawRecord, DrawWinner } from '../src/admin/ops/api-types';
import { leadPages, type LeadRow } from './lead-export';
import { suppressedIds } from './lead-store';

export const DRAW_PREFIX = 'draw:';

export interface EligibleSet {
  rows: LeadRow[];
  /** Sorted eligible ids. */
  ids: string[];
  skipped: number;
}

export function isEligible(row: LeadRow, deadlineMs: number): boolean {
  return row.m.g === 1 && row.m.s === 'confirmed' && Date.parse(row.m.c) < deadlineMs;
}

export async function eligibleEntries(kv: KVNamespace, deadlineMs: number): Promise<EligibleSet> {
  const counters = { listCalls: 0, skipped: 0 };
  const suppressed = await suppressedIds(kv);
  const rows: LeadRow[] = [];
  for await (const page of leadPages(kv, counters))
    for (const r of page) if (isEligible(r, deadlineMs) && !suppressed.has(r.id)) rows.push(r);
  rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { rows, ids: rows.map((r) => r.id), skipped: counters.skipped };
}

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

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Past draws, newest first (list only: the summaries live in metadata). */
export async function listDraws(kv: KVNamespace): Promise<{ key: string; summary: DrawSummary }[]> {
  const out: { key: string; summary: DrawSummary }[] = [];
  let cursor: string | undefined;
  do {
    const page = await kv.list<DrawSummary>({
      prefix: DRAW_PREFIX,
      limit: 1000,
      ...(cursor ? { cursor } : {}),
    });
    for (const k of page.keys) if (k.metadata) out.push({ key: k.name, summary: k.metadata });
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return out.sort((a, b) => (a.key < b.key ? 1 : -1));
}

export async function getDraw(kv: KVNamespace, key: string): Promise<DrawRecord | null> {
  return kv.get<DrawRecord>(key, 'json');
}

/** Metadata of a draw key: no addresses. */
export interface DrawSummary {
  at: string;
  by: string;
  eligibleCount: number;
  winners: number;
  eligibleHash: string;
  redraw?: string;
}

export type DrawOutcome =
  | { ok: true; record: DrawRecord }
  | { ok: false; reason: 'already_drawn'; previous: string }
  | { ok: false; reason: 'too_many'; eligibleCount: number }
  | { ok: false; reason: 'none_eligible' };

/**
 * Draws and stores. A second draw needs `redraw.reason`; it then records which draw it
 * replaces. KV is eventually consistent, so two ops drawing in the same second from two
 * locations could both pass the check; the audit log would show both.
 */
export async function drawWinners(
  kv: KVNamespace,
  o: { winners: number; by: string; deadline: string; redraw?: { reason: string }; now?: Date },
): Promise<DrawOutcome> {
  const now = o.now ?? new Date();
  const previous = (await listDraws(kv))[0];
  if (previous && !o.redraw) return { ok: false, reason: 'already_drawn', previous: previous.key };
  const eligible = await eligibleEntries(kv, Date.parse(o.deadline));
  if (eligible.ids.length === 0) return { ok: false, reason: 'none_eligible' };
  if (o.winners > eligible.ids.length)
    return { ok: false, reason: 'too_many', eligibleCount: eligible.ids.length };
  const chosen = pickDistinct(eligible.rows, o.winners);
  const winners: DrawWinner[] = chosen.map((r) => ({
    id: r.id,
    email: r.m.e,
    ...(r.m.n ? { firstName: r.m.n } : {}),
  }));
  const suffix = [...crypto.getRandomValues(new Uint8Array(4))]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('');
  const key = `${DRAW_PREFIX}${now.toISOString()}:${suffix}`;
  const record: DrawRecord = {
    key,
    at: now.toISOString(),
    by: o.by,
    winnersRequested: o.winners,
    eligibleCount: eligible.ids.length,
    eligibleHash: await sha256Hex(eligible.ids.join('\n')),
    deadline: o.deadline,
    winners,
    ...(o.redraw && previous ? { redraw: { reason: o.redraw.reason, previous: previous.key } } : {}),
  };
  const summary: DrawSummary = {
    at: record.at,
    by: record.by.slice(0, 254),
    eligibleCount: record.eligibleCount,
    winners: winners.length,
    eligibleHash: record.eligibleHash,
    ...(record.redraw ? { redraw: record.redraw.reason.slice(0, 300) } : {}),
  };
  await kv.put(key, JSON.stringify(record), { metadata: summary });
  return { ok: true, record };
}
