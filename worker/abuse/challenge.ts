/**
 * The proof-of-work challenge of the enhanced form: the ALTCHA protocol, version 1
 * (SHA-256), self-hosted with `altcha-lib/v1` (docs/decisions/090-bot-defences.md).
 *
 * - `GET /api/register/challenge` hands out `{ algorithm, challenge, maxnumber, salt,
 *   signature }`, HMAC-signed and expiring after CHALLENGE_TTL_MS (the expiry is part of
 *   the signed salt). The island finds the number with Web Crypto in the background.
 * - A registration carries the solution as `altcha` (base64 JSON `{ algorithm, challenge,
 *   number, salt, signature }`). Verifying costs one SHA-256 and one HMAC. A solution is
 *   single-use: `spendStatement` is the first statement of the registration's batch, and a
 *   second use fails the batch on the primary key, so a replay stores nothing.
 *
 * The HMAC key is derived from LEAD_KEY_SECRET (one secret fewer to manage; a derived key
 * reveals nothing about its parent).
 */
import { createChallenge, verifySolution } from 'altcha-lib/v1';
import * as v from 'valibot';
import { hmacHex } from '../crypto';

/** How long a challenge can be solved and used. */
export const CHALLENGE_TTL_MS = 10 * 60_000;
/** Default cost: the number is uniform in [0, maxnumber], so a solver tries half of it on average. */
export const DEFAULT_MAX_NUMBER = 50_000;
/** Attack mode multiplies the cost. */
export const ATTACK_FACTOR = 10;

const keys = new Map<string, Promise<string>>();

function challengeKey(secret: string): Promise<string> {
  let k = keys.get(secret);
  if (!k) {
    k = hmacHex(secret, 'altcha-challenge-key-v1');
    keys.set(secret, k);
  }
  return k;
}

/** The configured cost (ALTCHA_MAX_NUMBER), or the default for a missing or absurd value. */
export function maxNumberOf(env: { ALTCHA_MAX_NUMBER?: string }, attack: boolean): number {
  const n = Number(env.ALTCHA_MAX_NUMBER);
  const base = Number.isInteger(n) && n >= 10 && n <= 10_000_000 ? n : DEFAULT_MAX_NUMBER;
  return attack ? base * ATTACK_FACTOR : base;
}

/** A new signed challenge. */
export async function newChallenge(secret: string, maxNumber: number, nowMs = Date.now()) {
  return createChallenge({
    algorithm: 'SHA-256',
    hmacKey: await challengeKey(secret),
    maxNumber,
    expires: new Date(nowMs + CHALLENGE_TTL_MS),
  });
}

const hex64 = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/));

/** What a solution must look like before any hashing is spent on it. */
const Solution = v.object({
  algorithm: v.literal('SHA-256'),
  challenge: hex64,
  number: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1e8)),
  salt: v.pipe(v.string(), v.maxLength(200), v.regex(/^[0-9a-f]{8,64}\?expires=\d{10}&$/)),
  signature: hex64,
});

export type ChallengeCheck =
  | { ok: true; signature: string; expiresAtMs: number }
  | { ok: false; reason: 'missing' | 'malformed' | 'invalid' | 'expired' };

/**
 * Checks a solution's shape, signature and expiry. Whether it was used before is decided
 * by the database (`spendStatement`), not here.
 */
export async function checkSolution(
  secret: string,
  raw: unknown,
  nowMs = Date.now(),
): Promise<ChallengeCheck> {
  if (raw === undefined || raw === null || raw === '') return { ok: false, reason: 'missing' };
  if (typeof raw !== 'string' || raw.length > 1000) return { ok: false, reason: 'malformed' };
  let decoded: unknown;
  try {
    decoded = JSON.parse(atob(raw));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const parsed = v.safeParse(Solution, decoded);
  if (!parsed.success) return { ok: false, reason: 'malformed' };
  const expiresAtMs = Number(/expires=(\d+)/.exec(parsed.output.salt)![1]) * 1000;
  if (expiresAtMs <= nowMs) return { ok: false, reason: 'expired' };
  // The library checks expiry against the real clock; ours is checked above (and pinned in tests).
  const valid = await verifySolution(parsed.output, await challengeKey(secret), false);
  return valid
    ? { ok: true, signature: parsed.output.signature, expiresAtMs }
    : { ok: false, reason: 'invalid' };
}

/** Marks a solution used; fails (primary key) when it was used before. Part of the registration batch. */
export function spendStatement(db: D1Database, check: { signature: string; expiresAtMs: number }) {
  return db
    .prepare('INSERT INTO challenge_spent (signature, expires_at) VALUES (?1, ?2)')
    .bind(check.signature, check.expiresAtMs);
}

/** Whether a D1 error is the spent-solution constraint (a replay). */
export function isReplay(error: unknown): boolean {
  return /UNIQUE constraint failed: challenge_spent\.signature/.test(
    String((error as Error)?.message ?? error),
  );
}

/** Deletes spent solutions that have expired anyway (hourly cron). */
export async function purgeSpentChallenges(db: D1Database, nowMs: number): Promise<number> {
  const res = await db.prepare('DELETE FROM challenge_spent WHERE expires_at < ?1').bind(nowMs).run();
  return res.meta.changes ?? 0;
}
