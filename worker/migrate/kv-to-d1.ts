/**
 * The one-time move of a KV-era deployment's person data from `LEGACY_LEADS` into D1,
 * one bounded step per call (admin route, worker/routes/admin-migrate.ts; CLI,
 * scripts/migrate-kv-to-d1.ts). Decisions in docs/decisions/065-kv-to-d1-migration.md.
 *
 * `copyStep` walks the phases (worker/migrate/kv-to-d1-phases.ts) with a cursor and stops when its budget of KV and D1
 * operations (under the 1000 external operations of one invocation) or time is spent.
 * Every write is INSERT OR IGNORE (or guarded by NOT EXISTS), so a re-run after a crash
 * continues and changes nothing already moved; every page is read back from D1 and
 * counted as `moved` only when its rows are there (`missing` otherwise). When the last
 * phase is done it leaves a marker in KV; only then does `deleteStep` remove the personal
 * keys, page by page, deleting a lead's record only once the lead (or its suppression)
 * is in D1.
 */
import * as v from 'valibot';
import { randomHex } from '../crypto';
import { leadKeys } from '../store/lead-keys';
import * as L from './legacy-kv';
import { bulk, emptyCounts, json, list, type Ctx, type MigrationCounts } from './kv-to-d1-sql';
import { PHASES, runPhase } from './kv-to-d1-phases';

export type { KindCount, MigrationCounts } from './kv-to-d1-sql';

export const COPIED_MARKER = 'migration:d1';

/** Per call: external operations (KV calls plus D1 statements) and wall time. */
export const STEP_BUDGET = { ops: 800, ms: 15_000 };
const DELETE_PAGE = 200;
const Cursor = v.object({ p: v.pipe(v.number(), v.integer(), v.minValue(0)), c: v.optional(v.string()) });
type CursorState = v.InferOutput<typeof Cursor>;

const encode = (s: CursorState) => btoa(JSON.stringify(s)).replace(/=+$/, '');
/** The cursor of a previous answer, or null when it is not one. */
export function decodeCursor(cursor: string | undefined): CursorState | null {
  if (cursor === undefined) return { p: 0 };
  try {
    const parsed = v.safeParse(Cursor, JSON.parse(atob(cursor)));
    return parsed.success && parsed.output.p <= PHASES.length ? parsed.output : null;
  } catch {
    return null;
  }
}
export interface StepResult {
  done: boolean;
  cursor?: string;
  phase: string;
  counts: MigrationCounts;
  /** The live config version in D1 (once the last phase ran). */
  pointer?: number;
}

function newCtx(env: Env): Ctx {
  return {
    env,
    kv: env.LEGACY_LEADS,
    secret: env.LEAD_KEY_SECRET,
    now: Date.now(),
    ops: 0,
    counts: emptyCounts(),
  };
}

/** Copies as much as one call's budget allows, from `cursor` on. */
export async function copyStep(env: Env, state: CursorState, budget = STEP_BUDGET): Promise<StepResult> {
  const ctx = newCtx(env);
  const deadline = Date.now() + budget.ms;
  let { p, c } = state;
  // At least one page per call; then only while another lead page (~20 operations) fits.
  for (let first = true; p < PHASES.length; first = false) {
    if (!first && (ctx.ops >= budget.ops - 40 || Date.now() >= deadline)) break;
    c = await runPhase(ctx, PHASES[p], c);
    if (c === undefined) p += 1;
  }
  if (p < PHASES.length)
    return { done: false, cursor: encode({ p, c }), phase: PHASES[p], counts: ctx.counts };
  await env.LEGACY_LEADS.put(
    COPIED_MARKER,
    JSON.stringify({ copiedAt: new Date(ctx.now).toISOString(), run: randomHex(4) }),
  );
  return { done: true, phase: 'done', counts: ctx.counts, pointer: ctx.pointer };
}

export class NotCopiedError extends Error {}

export interface DeleteResult {
  done: boolean;
  cursor?: string;
  phase: string;
  deleted: Record<L.LegacyKind, number>;
  /** Lead records kept because their lead is not in D1 (re-run the copy). */
  kept: number;
}

/** Deletes one budget's worth of personal keys; refuses before a completed copy. */
export async function deleteStep(env: Env, state: CursorState): Promise<DeleteResult> {
  const ctx = newCtx(env);
  if ((await env.LEGACY_LEADS.get(COPIED_MARKER)) === null) throw new NotCopiedError('copy first');
  const deleted = Object.fromEntries(L.LEGACY_KINDS.map((k) => [k, 0])) as Record<L.LegacyKind, number>;
  let kept = 0;
  let { p, c } = state;
  const deadline = Date.now() + STEP_BUDGET.ms;
  while (p < L.LEGACY_KINDS.length && ctx.ops < STEP_BUDGET.ops - DELETE_PAGE - 10 && Date.now() < deadline) {
    const kind = L.LEGACY_KINDS[p];
    const { keys, next } = await list(ctx, L.LEGACY_PREFIXES[kind], DELETE_PAGE, c);
    let doomed = keys.map((k) => k.name);
    if (kind === 'lead') {
      const safe = await leadsInD1(ctx, doomed);
      kept += doomed.length - safe.length;
      doomed = safe;
    }
    await Promise.all(doomed.map((k) => env.LEGACY_LEADS.delete(k)));
    ctx.ops += doomed.length;
    deleted[kind] += doomed.length;
    c = next;
    if (c === undefined) p += 1;
  }
  if (p < L.LEGACY_KINDS.length)
    return { done: false, cursor: encode({ p, c }), phase: L.LEGACY_KINDS[p], deleted, kept };
  if (kept === 0) await env.LEGACY_LEADS.delete(COPIED_MARKER);
  return { done: true, phase: 'done', deleted, kept };
}

/** Lead keys whose record is in D1 (by its new id), suppressed there, or unreadable. */
async function leadsInD1(ctx: Ctx, keys: string[]): Promise<string[]> {
  const records = await bulk(ctx, keys);
  const wanted = new Map<string, { id: string; mailbox: string; legacy: string }>();
  const unreadable: string[] = [];
  for (const key of keys) {
    const r = v.safeParse(L.LegacyLead, json(records.get(key)));
    if (!r.success) unreadable.push(key);
    else
      wanted.set(key, {
        ...(await leadKeys(r.output.email, ctx.secret)),
        legacy: key.slice(L.LEGACY_PREFIXES.lead.length),
      });
  }
  const list = JSON.stringify([...wanted.values()].flatMap((w) => [w.id, w.mailbox, w.legacy]));
  const { results } = await ctx.env.DB.prepare(
    `SELECT id AS k FROM leads WHERE id IN (SELECT value FROM json_each(?1))
     UNION SELECT mailbox AS k FROM suppression WHERE mailbox IN (SELECT value FROM json_each(?1))`,
  )
    .bind(list)
    .all<{ k: string }>();
  ctx.ops += 1;
  const present = new Set(results.map((r) => r.k));
  return [
    ...unreadable,
    ...[...wanted]
      .filter(([, w]) => present.has(w.id) || present.has(w.mailbox) || present.has(w.legacy))
      .map(([k]) => k),
  ];
}
