/**
 * Leads and their consents in D1 (`DB`), with no Hono in sight so it is tested straight
 * against the binding. Tables in migrations/0001_person_data.sql.
 *
 * Every change is one `batch` (one transaction, one round trip) whose statements carry
 * their own conditions, so concurrent requests on Cloudflare's network cannot undo each
 * other (docs/decisions/060-person-data-in-d1.md):
 *
 * - register inserts the lead only when it is new and its mailbox is not suppressed, and
 *   each consent only when no pending or confirmed one of that kind exists (a partial
 *   unique index): a repeat never changes the status, the first name or a consent;
 * - confirm flips only pending consents and only a not-yet-confirmed lead: a double click
 *   or two devices confirm once, and exactly one of them asks for the welcome mail;
 * - unsubscribe and erase are conditional updates and deletes that no later registration
 *   can reverse (erasure suppresses the canonical mailbox first, in the same batch).
 */
import type { Registration } from '../../src/lib/registration';
import type { Phase } from '../../src/lib/schedule';
import { leadKeys, legacyLeadId } from './lead-keys';
import { erasureStatements, eventStatements } from '../webhooks/outbox';

export type LeadStatus = 'pending' | 'confirmed' | 'unsubscribed';
export type ConsentKind = 'privacy' | 'giveaway' | 'newsletter';
export type ConsentStatus = 'pending' | 'confirmed' | 'withdrawn';

export const CONSENT_KINDS = ['privacy', 'giveaway', 'newsletter'] as const satisfies readonly ConsentKind[];
export const UTM_FIELDS = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content'] as const;

/** Time, IP and user agent of an act (giving or confirming a consent). */
export interface Proof {
  at: string;
  ip: string;
  userAgent: string;
}

export interface Consent {
  kind: ConsentKind;
  status: ConsentStatus;
  textVersion: string;
  /** The consent text as the visitor saw it. */
  text: string;
  configVersion: number | null;
  note: string | null;
  given: Proof;
  confirmed?: Proof;
  withdrawnAt?: string;
}

/** A lead as the mail, opt-in and admin paths see it. */
export interface Lead {
  id: string;
  mailbox: string;
  email: string;
  firstName: string;
  status: LeadStatus;
  phase: Phase;
  createdAt: string;
  updatedAt: string;
  confirmedAt?: string;
  unsubscribedAt?: string;
  configVersion: number | null;
  source: Partial<Record<(typeof UTM_FIELDS)[number] | 'referrer' | 'landingPath', string>>;
  /** Every consent, oldest first (withdrawn ones included). */
  consents: Consent[];
}

/** The consent texts and their version, as shown on the page the visitor sent. */
export interface ConsentTexts {
  version: string;
  privacy: string;
  giveaway: string;
  newsletter: string;
  /** The published config version the texts come from (null: the repo default or unknown). */
  configVersion: number | null;
  /** Set when the form's own version could not be used, e.g. 'version_unknown'. */
  note?: string;
}

export interface RegistrationContext {
  now: Date;
  phase: Phase;
  texts: ConsentTexts;
  ip: string;
  userAgent: string;
  landingPath?: string;
  /** Giveaway entries are refused after the deadline. */
  giveawayOpen: boolean;
}

/** A mail the registration asks for; `ref` makes duplicates of one request one send. */
export interface MailRequest {
  kind: 'confirm' | 'welcome';
  ref: string;
}

export type RegisterOutcome = 'created' | 'consents_added' | 'repeat' | 'suppressed';

export interface RegisterResult {
  id: string;
  outcome: RegisterOutcome;
  /** What to enqueue after answering, if anything. */
  mail: MailRequest | null;
}

/**
 * A pending consent older than this can no longer be confirmed (the confirmation link's
 * lifetime, TOKEN_TTL_S.confirm in worker/tokens.ts): a repeat registration replaces it
 * with a fresh one, with fresh proof, and the retention period starts again.
 */
export const PENDING_CONSENT_TTL_MS = 7 * 86_400_000;
/** A pending lead gets a new confirmation on a repeat at most this often. */
export const CONFIRM_RESEND_INTERVAL_MS = 10 * 60_000;
/** A confirmed lead gets the welcome mail again on a repeat at most this often. */
export const WELCOME_RESEND_INTERVAL_MS = 60 * 60_000;
const UA_MAX = 400;

const ua = (s: string) => s.slice(0, UA_MAX);

/**
 * Stores a validated registration in one batch and says what to mail. Throws when D1
 * fails; then nothing was written (a batch is a transaction).
 */
export async function registerLead(
  db: D1Database,
  secret: string,
  input: Registration,
  ctx: RegistrationContext,
  /** Statements that must succeed for anything to be stored (e.g. spending a challenge solution). */
  guards: D1PreparedStatement[] = [],
): Promise<RegisterResult> {
  const { id, mailbox } = await leadKeys(input.email, secret);
  // Erasures moved from the KV store are keyed by the KV-era id (decision 065).
  const legacy = await legacyLeadId(input.email, secret);
  const now = ctx.now.getTime();
  const src = (k: (typeof UTM_FIELDS)[number]) => input[k] || null;
  const wanted: ConsentKind[] = ['privacy'];
  if (input.giveaway && ctx.giveawayOpen) wanted.push('giveaway');
  if (input.newsletter) wanted.push('newsletter');
  const t = ctx.texts;

  const statements = [
    ...guards,
    db
      .prepare(
        `INSERT INTO leads (id, mailbox, email, first_name, status, phase, created_at, updated_at,
           config_version, utm_source, utm_medium, utm_campaign, utm_term, utm_content, referrer, landing_path)
         SELECT ?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14
         WHERE NOT EXISTS (SELECT 1 FROM suppression WHERE mailbox IN (?2, ?15))
         ON CONFLICT (id) DO NOTHING
         RETURNING id`,
      )
      .bind(
        id,
        mailbox,
        input.email,
        input.firstName,
        ctx.phase,
        now,
        t.configVersion,
        src('utm_source'),
        src('utm_medium'),
        src('utm_campaign'),
        src('utm_term'),
        src('utm_content'),
        input.referrer || null,
        ctx.landingPath ?? null,
        legacy,
      ),
    db
      .prepare(
        `INSERT INTO lead_events (lead_id, type, at)
         SELECT ?1, 'registered', ?2 WHERE EXISTS (SELECT 1 FROM leads WHERE id = ?1)
           AND NOT EXISTS (SELECT 1 FROM lead_events WHERE lead_id = ?1 AND type = 'registered')`,
      )
      .bind(id, now),
    // Pending consents whose confirmation link has expired are closed (kept as history).
    db
      .prepare(
        `UPDATE consents SET status = 'withdrawn', withdrawn_at = ?2, note = 'expired_unconfirmed'
         WHERE lead_id = ?1 AND status = 'pending' AND given_at < ?2 - ?3`,
      )
      .bind(id, now, PENDING_CONSENT_TTL_MS),
    ...wanted.map((kind) =>
      db
        .prepare(
          `INSERT OR IGNORE INTO consents (lead_id, kind, status, text_version, text, config_version, note,
             given_at, given_ip, given_ua)
           SELECT ?1, ?2, 'pending', ?3, ?4, ?5, ?6, ?7, ?8, ?9
           WHERE EXISTS (SELECT 1 FROM leads WHERE id = ?1)
             AND NOT EXISTS (SELECT 1 FROM suppression WHERE mailbox IN (?10, ?11))
           RETURNING kind`,
        )
        .bind(
          id,
          kind,
          t.version,
          t[kind],
          t.configVersion,
          t.note ?? null,
          now,
          ctx.ip,
          ua(ctx.userAgent),
          mailbox,
          legacy,
        ),
    ),
    // The minute's count of accepted registrations (ops dashboard), in the same transaction.
    db
      .prepare(
        `INSERT INTO abuse_counts (minute, reason, n) VALUES (?1, 'accepted', 1)
         ON CONFLICT (minute, reason) DO UPDATE SET n = n + 1`,
      )
      .bind(now - (now % 60_000)),
    // Webhooks (issue 16): the event row, only when the lead is new and someone listens.
    ...eventStatements(db, 'lead.registered', id, now),
    db
      .prepare(
        `SELECT l.status AS status,
           (SELECT COUNT(*) FROM consents WHERE lead_id = l.id AND status = 'pending') AS pending,
           (SELECT MAX(given_at) FROM consents WHERE lead_id = l.id AND status = 'pending') AS last_asked,
           (SELECT MAX(claimed_at) FROM mail_sends WHERE lead_id = l.id AND kind = 'confirm') AS last_confirm,
           (SELECT MAX(claimed_at) FROM mail_sends WHERE lead_id = l.id AND kind = 'welcome') AS last_welcome
         FROM leads l WHERE l.id = ?1`,
      )
      .bind(id),
  ];
  const results = (await db.batch<Record<string, unknown>>(statements)).slice(guards.length);
  const created = results[0].results.length === 1;
  const added = results
    .slice(3, 3 + wanted.length) // after the lead, its event and the expiry of stale pending consents
    .flatMap((r) => r.results.map((row) => row.kind as ConsentKind));
  const state = results[results.length - 1].results[0] as
    | {
        status: LeadStatus;
        pending: number;
        last_asked: number | null;
        last_confirm: number | null;
        last_welcome: number | null;
      }
    | undefined;

  if (!state) return { id, outcome: 'suppressed', mail: null };
  if (created) return { id, outcome: 'created', mail: { kind: 'confirm', ref: 'new' } };
  if (added.length) return { id, outcome: 'consents_added', mail: { kind: 'confirm', ref: `c${now}` } };
  if (state.pending > 0) {
    // A confirmation was asked for when its pending consent was given, even if no consumer
    // has claimed it yet: a double submit or a quick repeat must not ask again.
    const last = Math.max(state.last_confirm ?? 0, state.last_asked ?? 0);
    const due = now - last >= CONFIRM_RESEND_INTERVAL_MS;
    return {
      id,
      outcome: 'repeat',
      mail: due ? { kind: 'confirm', ref: `r${Math.floor(now / CONFIRM_RESEND_INTERVAL_MS)}` } : null,
    };
  }
  if (state.status === 'confirmed') {
    const due = state.last_welcome === null || now - state.last_welcome >= WELCOME_RESEND_INTERVAL_MS;
    return {
      id,
      outcome: 'repeat',
      mail: due ? { kind: 'welcome', ref: `r${Math.floor(now / WELCOME_RESEND_INTERVAL_MS)}` } : null,
    };
  }
  return { id, outcome: 'repeat', mail: null };
}

// --- reading ---

interface LeadRow {
  id: string;
  mailbox: string;
  email: string;
  first_name: string;
  status: LeadStatus;
  phase: Phase;
  created_at: number;
  updated_at: number;
  confirmed_at: number | null;
  unsubscribed_at: number | null;
  config_version: number | null;
  utm_source: string | null;
  utm_medium: string | null;
  utm_campaign: string | null;
  utm_term: string | null;
  utm_content: string | null;
  referrer: string | null;
  landing_path: string | null;
}

interface ConsentRow {
  lead_id: string;
  kind: ConsentKind;
  status: ConsentStatus;
  text_version: string;
  text: string;
  config_version: number | null;
  note: string | null;
  given_at: number;
  given_ip: string;
  given_ua: string;
  confirmed_at: number | null;
  confirmed_ip: string | null;
  confirmed_ua: string | null;
  withdrawn_at: number | null;
}

const iso = (ms: number) => new Date(ms).toISOString();

function toConsent(r: ConsentRow): Consent {
  return {
    kind: r.kind,
    status: r.status,
    textVersion: r.text_version,
    text: r.text,
    configVersion: r.config_version,
    note: r.note,
    given: { at: iso(r.given_at), ip: r.given_ip, userAgent: r.given_ua },
    ...(r.confirmed_at !== null
      ? { confirmed: { at: iso(r.confirmed_at), ip: r.confirmed_ip ?? '', userAgent: r.confirmed_ua ?? '' } }
      : {}),
    ...(r.withdrawn_at !== null ? { withdrawnAt: iso(r.withdrawn_at) } : {}),
  };
}

function toLead(r: LeadRow, consents: ConsentRow[]): Lead {
  const source: Lead['source'] = {};
  for (const k of UTM_FIELDS) if (r[k]) source[k] = r[k]!;
  if (r.referrer) source.referrer = r.referrer;
  if (r.landing_path) source.landingPath = r.landing_path;
  return {
    id: r.id,
    mailbox: r.mailbox,
    email: r.email,
    firstName: r.first_name,
    status: r.status,
    phase: r.phase,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
    ...(r.confirmed_at !== null ? { confirmedAt: iso(r.confirmed_at) } : {}),
    ...(r.unsubscribed_at !== null ? { unsubscribedAt: iso(r.unsubscribed_at) } : {}),
    configVersion: r.config_version,
    source,
    consents: consents.map(toConsent),
  };
}

/** Several leads with their consents, in two queries whatever their number (≤ 1000 ids). */
export async function getLeads(db: D1Database, ids: string[]): Promise<Map<string, Lead>> {
  const out = new Map<string, Lead>();
  if (!ids.length) return out;
  const list = JSON.stringify([...new Set(ids)]);
  const [leads, consents] = await db.batch<LeadRow | ConsentRow>([
    db.prepare('SELECT * FROM leads WHERE id IN (SELECT value FROM json_each(?1))').bind(list),
    db
      .prepare('SELECT * FROM consents WHERE lead_id IN (SELECT value FROM json_each(?1)) ORDER BY id')
      .bind(list),
  ]);
  const byLead = new Map<string, ConsentRow[]>();
  for (const c of consents.results as ConsentRow[]) {
    const list = byLead.get(c.lead_id) ?? [];
    list.push(c);
    byLead.set(c.lead_id, list);
  }
  for (const r of leads.results as LeadRow[]) out.set(r.id, toLead(r, byLead.get(r.id) ?? []));
  return out;
}

/** One lead with its consents, or null. */
export async function getLead(db: D1Database, id: string): Promise<Lead | null> {
  return (await getLeads(db, [id])).get(id) ?? null;
}

/** The consent of a kind that counts now (pending or confirmed), if any. */
export function activeConsent(lead: Lead, kind: ConsentKind): Consent | undefined {
  return lead.consents.find((c) => c.kind === kind && c.status !== 'withdrawn');
}

/** Whether a consent of this kind is confirmed and not withdrawn. */
export function hasConfirmed(lead: Lead, kind: ConsentKind): boolean {
  return activeConsent(lead, kind)?.status === 'confirmed';
}

// --- double opt-in ---

export type ConfirmOutcome =
  /** The lead is confirmed by this request: send the welcome mail (ref). */
  | { outcome: 'confirmed'; welcomeRef: string; kinds: ConsentKind[] }
  /** Added consents confirmed on an already confirmed lead. */
  | { outcome: 'consents_confirmed'; kinds: ConsentKind[] }
  /** Nothing left to confirm: an earlier click (or another device) did it. */
  | { outcome: 'already' }
  | { outcome: 'missing' };

/**
 * Confirms every consent of the lead given up to `givenUntilMs` (the time the link's mail
 * was asked for), with time, IP and user agent as proof; the lead itself becomes confirmed
 * once its privacy consent is. Idempotent and race-free: a second click finds nothing pending.
 */
export async function confirmLead(
  db: D1Database,
  id: string,
  proof: { atMs: number; ip: string; userAgent: string },
  givenUntilMs: number,
): Promise<ConfirmOutcome> {
  const { atMs, ip } = proof;
  const [consents, lead, , state] = await db.batch<Record<string, unknown>>([
    db
      .prepare(
        `UPDATE consents SET status = 'confirmed', confirmed_at = ?2, confirmed_ip = ?3, confirmed_ua = ?4
         WHERE lead_id = ?1 AND status = 'pending' AND given_at <= ?5
         RETURNING kind`,
      )
      .bind(id, atMs, ip, ua(proof.userAgent), givenUntilMs),
    db
      .prepare(
        `UPDATE leads SET status = 'confirmed', confirmed_at = ?2, unsubscribed_at = NULL, updated_at = ?2
         WHERE id = ?1 AND status <> 'confirmed'
           AND EXISTS (SELECT 1 FROM consents WHERE lead_id = ?1 AND kind = 'privacy' AND status = 'confirmed')
         RETURNING id`,
      )
      .bind(id, atMs),
    db
      .prepare(
        `INSERT INTO lead_events (lead_id, type, at, detail)
         SELECT ?1, 'confirmed', ?2, json_object('kinds', (SELECT json_group_array(kind) FROM consents
           WHERE lead_id = ?1 AND confirmed_at = ?2))
         WHERE EXISTS (SELECT 1 FROM consents WHERE lead_id = ?1 AND confirmed_at = ?2)`,
      )
      .bind(id, atMs),
    db.prepare('SELECT status FROM leads WHERE id = ?1').bind(id),
    ...eventStatements(db, 'lead.confirmed', id, atMs), // webhooks (issue 16)
  ]);
  const kinds = consents.results.map((r) => r.kind as ConsentKind);
  if (!state.results.length) return { outcome: 'missing' };
  if (lead.results.length) return { outcome: 'confirmed', welcomeRef: `c${atMs}`, kinds };
  if (kinds.length) return { outcome: 'consents_confirmed', kinds };
  return { outcome: 'already' };
}

export type UnsubscribeOutcome = 'unsubscribed' | 'already' | 'missing';

/**
 * Stops every further mail: the lead becomes unsubscribed and its privacy and newsletter
 * consents are withdrawn (kept as history). The giveaway entry stays: it never depended on
 * mail consent (Teilnahmebedingungen). A later registration can only start a new, pending
 * consent that needs its own confirmation.
 */
export async function unsubscribeLead(db: D1Database, id: string, atMs: number): Promise<UnsubscribeOutcome> {
  const [lead, , , state] = await db.batch<Record<string, unknown>>([
    db
      .prepare(
        `UPDATE leads SET status = 'unsubscribed', unsubscribed_at = ?2, updated_at = ?2
         WHERE id = ?1 AND status <> 'unsubscribed' RETURNING id`,
      )
      .bind(id, atMs),
    db
      .prepare(
        `UPDATE consents SET status = 'withdrawn', withdrawn_at = ?2
         WHERE lead_id = ?1 AND kind IN ('privacy', 'newsletter') AND status <> 'withdrawn'`,
      )
      .bind(id, atMs),
    db
      .prepare(
        `INSERT INTO lead_events (lead_id, type, at)
         SELECT ?1, 'unsubscribed', ?2 WHERE EXISTS (SELECT 1 FROM leads WHERE id = ?1 AND unsubscribed_at = ?2)`,
      )
      .bind(id, atMs),
    db.prepare('SELECT status FROM leads WHERE id = ?1').bind(id),
    ...eventStatements(db, 'lead.unsubscribed', id, atMs), // webhooks (issue 16)
  ]);
  if (!state.results.length) return 'missing';
  return lead.results.length ? 'unsubscribed' : 'already';
}

// --- erasure ---

export interface EraseResult {
  /** Leads deleted (0 when the address was unknown). */
  erased: number;
}

/**
 * Erases every lead of a mailbox for good, in one transaction: the mailbox is suppressed
 * first (no later registration of any spelling of it is stored), then its leads, consents,
 * events, mail sends and dead letters are deleted. Idempotent; the work done is the same
 * for known and unknown addresses.
 */
export async function eraseMailbox(
  db: D1Database,
  mailbox: string,
  opts: { atMs: number; by: 'ops' | 'visitor' },
): Promise<EraseResult> {
  const ofMailbox = '(SELECT id FROM leads WHERE mailbox = ?1)';
  const results = await db.batch<Record<string, unknown>>([
    db
      .prepare('INSERT OR IGNORE INTO suppression (mailbox, at, by) VALUES (?1, ?2, ?3)')
      .bind(mailbox, opts.atMs, opts.by),
    // Webhooks (issue 16): `lead.erased` with the address, read before the rows go.
    ...erasureStatements(db, mailbox, opts.atMs),
    db.prepare(`DELETE FROM consents WHERE lead_id IN ${ofMailbox}`).bind(mailbox),
    db.prepare(`DELETE FROM lead_events WHERE lead_id IN ${ofMailbox}`).bind(mailbox),
    db.prepare(`DELETE FROM mail_sends WHERE lead_id IN ${ofMailbox}`).bind(mailbox),
    db.prepare(`DELETE FROM dead_letters WHERE lead_id IN ${ofMailbox}`).bind(mailbox),
    db.prepare('DELETE FROM leads WHERE mailbox = ?1 RETURNING id').bind(mailbox),
  ]);
  return { erased: results[results.length - 1].results.length };
}

/** Erases the lead behind an address (ops, by address). */
export async function eraseAddress(
  db: D1Database,
  secret: string,
  email: string,
  opts: { atMs: number; by: 'ops' | 'visitor' },
): Promise<EraseResult> {
  const { mailbox } = await leadKeys(email, secret);
  return eraseMailbox(db, mailbox, opts);
}

/** Erases the lead with this id and every other spelling of its mailbox (visitor link). */
export async function eraseLeadById(
  db: D1Database,
  id: string,
  opts: { atMs: number; by: 'ops' | 'visitor' },
): Promise<EraseResult> {
  const row = await db
    .prepare('SELECT mailbox FROM leads WHERE id = ?1')
    .bind(id)
    .first<{ mailbox: string }>();
  if (!row) return { erased: 0 };
  return eraseMailbox(db, row.mailbox, opts);
}

/** Whether a mailbox is suppressed (erased). */
export async function isMailboxSuppressed(db: D1Database, mailbox: string): Promise<boolean> {
  return (
    (await db.prepare('SELECT 1 AS x FROM suppression WHERE mailbox = ?1').bind(mailbox).first()) !== null
  );
}
