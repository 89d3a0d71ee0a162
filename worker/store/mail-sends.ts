/**
 * Once-only mail sends (table `mail_sends`): a consumer claims (lead, kind, ref) in D1
 * before the mail goes out, and marks it sent afterwards. The claim is one conditional
 * upsert, so of any number of parallel consumers holding duplicates of one job exactly one
 * wins; the others see "sent" (acknowledge) or "busy" (retry later, in case the winner
 * dies before sending). `ref` is the webinar start for reminders and the replay, and the
 * request slot for confirmations and welcome mails (worker/store/lead-store.ts).
 */

export type ClaimResult =
  'claimed' | 'sent' | 'busy' | 'gone' | 'over_address' | 'over_domain' | 'over_global';

/**
 * Budgets a confirmation send must fit (issue 12): per canonical mailbox in 24 h, per
 * recipient domain and in total per hour. Null = no limit (big providers for the domain).
 * Counted exactly inside the claim, so parallel consumers cannot overshoot.
 */
export interface SendBudget {
  mailbox: string;
  domain: string;
  perAddress24h: number | null;
  perDomainHourly: number | null;
  globalHourly: number | null;
}

/** How long a claim blocks others; longer than any send takes. */
export const CLAIM_LEASE_MS = 5 * 60_000;

export interface SendKey {
  leadId: string;
  kind: string;
  ref: string;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** Other confirmation claims of a scope in a window, this send's own row left out. */
const others = (scope: string, windowMs: number) =>
  `(SELECT COUNT(*) FROM mail_sends WHERE kind = ?2 AND ${scope} AND claimed_at > ?4 - ${windowMs}
     AND NOT (lead_id = ?1 AND ref = ?3))`;

/** Claims a send, within its budget if it has one; see the module header for the answers. */
export async function claimSend(
  db: D1Database,
  key: SendKey,
  nowMs: number,
  budget?: SendBudget,
): Promise<ClaimResult> {
  const b = budget ?? {
    mailbox: null,
    domain: null,
    perAddress24h: null,
    perDomainHourly: null,
    globalHourly: null,
  };
  const byAddress = others('mailbox = ?6', DAY_MS);
  const byDomain = others('domain = ?7', HOUR_MS);
  const overall = others('1 = 1', HOUR_MS);
  const [won, state] = await db.batch<{
    won?: number;
    sent_at?: number | null;
    a?: number;
    d?: number;
    g?: number;
  }>([
    db
      .prepare(
        `INSERT INTO mail_sends (lead_id, kind, ref, claimed_at, claim_until, mailbox, domain)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
         WHERE EXISTS (SELECT 1 FROM leads WHERE id = ?1)
           AND (?8 IS NULL OR ${byAddress} < ?8)
           AND (?9 IS NULL OR ${byDomain} < ?9)
           AND (?10 IS NULL OR ${overall} < ?10)
         ON CONFLICT (lead_id, kind, ref) DO UPDATE SET claimed_at = excluded.claimed_at,
           claim_until = excluded.claim_until
         WHERE mail_sends.sent_at IS NULL AND mail_sends.claim_until <= excluded.claimed_at
         RETURNING 1 AS won`,
      )
      .bind(
        key.leadId,
        key.kind,
        key.ref,
        nowMs,
        nowMs + CLAIM_LEASE_MS,
        b.mailbox,
        b.domain,
        b.perAddress24h,
        b.perDomainHourly,
        b.globalHourly,
      ),
    db
      .prepare(
        `SELECT (SELECT sent_at FROM mail_sends WHERE lead_id = ?1 AND kind = ?2 AND ref = ?3) AS sent_at,
           (SELECT COUNT(*) FROM mail_sends WHERE lead_id = ?1 AND kind = ?2 AND ref = ?3) AS own,
           (SELECT COUNT(*) FROM leads WHERE id = ?1) AS alive,
           ${byAddress} AS a, ${byDomain} AS d, ${overall} AS g`,
      )
      .bind(key.leadId, key.kind, key.ref, nowMs, null, b.mailbox, b.domain),
  ]);
  if (won.results.length) return 'claimed';
  const st = state.results[0] as {
    sent_at: number | null;
    own: number;
    alive: number;
    a: number;
    d: number;
    g: number;
  };
  if (st.sent_at != null) return 'sent';
  // Erased (or purged) since the consumer read it: nothing may be written or sent for it.
  if (!st.alive) return 'gone';
  if (st.own) return 'busy';
  if (b.perAddress24h !== null && st.a >= b.perAddress24h) return 'over_address';
  if (b.perDomainHourly !== null && st.d >= b.perDomainHourly) return 'over_domain';
  if (b.globalHourly !== null && st.g >= b.globalHourly) return 'over_global';
  return 'busy';
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
