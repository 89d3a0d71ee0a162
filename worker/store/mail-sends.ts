/**
 * Once-only mail sends (table `mail_sends`): a consumer claims (lead, kind, ref) in D1
 * before the mail goes out, and marks it sent afterwards. The claim is one conditional
 * upsert, so of any number of parallel consumers holding duplicates of one job exactly one
 * wins; the others see "sent" (acknowledge) or "busy" (retry later, in case the winner
 * dies before sending). `ref` is the webinar start for reminders and the replay, and the
 * request slot for confirmations and welcome mails (worker/store/lead-store.ts).
 */

export type ClaimResult = 'claimed' | 'sent' | 'busy';

/** How long a claim blocks others; longer than any send takes. */
export const CLAIM_LEASE_MS = 5 * 60_000;

export interface SendKey {
  leadId: string;
  kind: string;
  ref: string;
}

/** Claims a send; see the module header for what each answer means. */
export async function claimSend(db: D1Database, key: SendKey, nowMs: number): Promise<ClaimResult> {
  const [won, state] = await db.batch<{ won?: number; sent_at?: number | null }>([
    db
      .prepare(
        `INSERT INTO mail_sends (lead_id, kind, ref, claimed_at, claim_until) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (lead_id, kind, ref) DO UPDATE SET claimed_at = excluded.claimed_at,
           claim_until = excluded.claim_until
         WHERE mail_sends.sent_at IS NULL AND mail_sends.claim_until <= excluded.claimed_at
         RETURNING 1 AS won`,
      )
      .bind(key.leadId, key.kind, key.ref, nowMs, nowMs + CLAIM_LEASE_MS),
    db
      .prepare('SELECT sent_at FROM mail_sends WHERE lead_id = ?1 AND kind = ?2 AND ref = ?3')
      .bind(key.leadId, key.kind, key.ref),
  ]);
  if (won.results.length) return 'claimed';
  return state.results[0]?.sent_at != null ? 'sent' : 'busy';
}

/** Records that the claimed mail went out. */
export async function markSent(db: D1Database, key: SendKey, nowMs: number): Promise<void> {
  await db
    .prepare('UPDATE mail_sends SET sent_at = ?4 WHERE lead_id = ?1 AND kind = ?2 AND ref = ?3')
    .bind(key.leadId, key.kind, key.ref, nowMs)
    .run();
}

/** Gives a claim back after a failed send, so the retry can claim it at once. */
export async function releaseClaim(db: D1Database, key: SendKey): Promise<void> {
  await db
    .prepare(
      'UPDATE mail_sends SET claim_until = 0 WHERE lead_id = ?1 AND kind = ?2 AND ref = ?3 AND sent_at IS NULL',
    )
    .bind(key.leadId, key.kind, key.ref)
    .run();
}

/** Whether any send of this kind was made (or is claimed) for the lead. */
export async function lastClaimAt(db: D1Database, leadId: string, kind: string): Promise<number | null> {
  const row = await db
    .prepare('SELECT MAX(claimed_at) AS at FROM mail_sends WHERE lead_id = ?1 AND kind = ?2')
    .bind(leadId, kind)
    .first<{ at: number | null }>();
  return row?.at ?? null;
}
