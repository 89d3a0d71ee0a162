/**
 * "Angriffsmodus": while it is on, the challenge costs ATTACK_FACTOR times more and a
 * visitor without JavaScript also answers a short question. Ops switch it in the admin
 * (`PUT /api/admin/attack-mode`); it also switches itself on when the refusals of the last
 * 10 minutes exceed ATTACK_REFUSALS_10MIN, and off again once they have stayed below it
 * for 30 minutes (only when it went on by itself: an ops decision stays until ops change it).
 *
 * Stored in D1 (`settings`, key `attack_mode`); each isolate trusts its copy for
 * CACHE_MS, so the visitor paths do not read D1 for it on every request.
 */
import * as v from 'valibot';
import { errorMessage, log } from '../log';
import { refusalsSince } from './counters';

const KEY = 'attack_mode';
const CACHE_MS = 10_000;
const WINDOW_MS = 10 * 60_000;
const CALM_MS = 30 * 60_000;
const DEFAULT_THRESHOLD = 500;

export const AttackModeState = v.object({
  on: v.boolean(),
  by: v.picklist(['auto', 'ops']),
  since: v.number(),
});
export type AttackModeState = v.InferOutput<typeof AttackModeState>;

const OFF: AttackModeState = { on: false, by: 'auto', since: 0 };
let cached: { at: number; state: AttackModeState } | undefined;

/** For tests: forget the isolate's copy. */
export function forgetAttackMode() {
  cached = undefined;
}

export function threshold(env: { ATTACK_REFUSALS_10MIN?: string }): number {
  const n = Number(env.ATTACK_REFUSALS_10MIN);
  return Number.isInteger(n) && n >= 1 ? n : DEFAULT_THRESHOLD;
}

/** The stored state, fresh from D1. */
export async function readAttackMode(db: D1Database): Promise<AttackModeState> {
  const row = await db
    .prepare('SELECT value FROM settings WHERE key = ?1')
    .bind(KEY)
    .first<{ value: string }>();
  if (!row) return OFF;
  try {
    const parsed = v.safeParse(AttackModeState, JSON.parse(row.value));
    return parsed.success ? parsed.output : OFF;
  } catch {
    return OFF;
  }
}

/** The state as visitor paths see it (isolate copy, at most CACHE_MS old). Off when D1 fails. */
export async function attackMode(db: D1Database, nowMs = Date.now()): Promise<AttackModeState> {
  if (cached && nowMs - cached.at < CACHE_MS) return cached.state;
  try {
    const state = await readAttackMode(db);
    cached = { at: nowMs, state };
    return state;
  } catch (error) {
    log.error('abuse.attack_mode_read_failed', { message: errorMessage(error) });
    return cached?.state ?? OFF;
  }
}

export async function setAttackMode(
  db: D1Database,
  state: AttackModeState,
  nowMs = Date.now(),
): Promise<void> {
  await db
    .prepare(
      `INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    )
    .bind(KEY, JSON.stringify(state), nowMs)
    .run();
  cached = { at: nowMs, state };
  log.warn('abuse.attack_mode', { on: state.on, by: state.by });
}

/**
 * Switches attack mode by itself: on above the threshold, off after 30 calm minutes if it
 * went on by itself. Runs after refusal counts are written and from the 5-minute cron.
 */
export async function evaluateAttackMode(
  db: D1Database,
  env: { ATTACK_REFUSALS_10MIN?: string },
  nowMs = Date.now(),
): Promise<AttackModeState> {
  const state = await readAttackMode(db);
  const limit = threshold(env);
  if (!state.on) {
    if ((await refusalsSince(db, nowMs - WINDOW_MS)) > limit) {
      const next: AttackModeState = { on: true, by: 'auto', since: nowMs };
      await setAttackMode(db, next, nowMs);
      return next;
    }
    return state;
  }
  if (state.by !== 'auto' || nowMs - state.since < CALM_MS) return state;
  // Calm means: no 10-minute window of the last 30 minutes went over the threshold.
  for (let end = nowMs; end > nowMs - CALM_MS; end -= WINDOW_MS) {
    const row = await db
      .prepare(
        "SELECT COALESCE(SUM(n), 0) AS n FROM abuse_counts WHERE minute >= ?1 AND minute < ?2 AND reason LIKE 'refused:%'",
      )
      .bind(end - WINDOW_MS - ((end - WINDOW_MS) % 60_000), end)
      .first<{ n: number }>();
    if ((row?.n ?? 0) > limit) return state;
  }
  const off: AttackModeState = { on: false, by: 'auto', since: nowMs };
  await setAttackMode(db, off, nowMs);
  return off;
}
