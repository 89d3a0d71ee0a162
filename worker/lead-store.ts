/**
 * Leads in KV (`LEADS`), with no Hono in sight so it is tested straight against the
 * binding.
 *
 * - `lead:<hex HMAC-SHA256(normalised email, LEAD_KEY_SECRET)>` holds the full record as
 *   the value and the export fields as metadata (≤ 1024 bytes), so an export is one
 *   `list` per 1000 leads and never a `get` per lead.
 * - `suppressed:<same hash>` marks an erased address; it is never re-added.
 * - A repeat registration keeps the first record's consents and only adds consents that
 *   were not given before; when nothing is new it writes nothing, which also keeps KV's
 *   one-write-per-second-per-key limit out of reach.
 */
import type { Registration } from '../src/lib/registration';
import { log } from './log';
import type { Phase } from '../src/lib/schedule';

export const LEAD_PREFIX = 'lead:';
export const SUPPRESSED_PREFIX = 'suppressed:';
export const METADATA_MAX_BYTES = 1024;

export type LeadStatus = 'pending' | 'confirmed' | 'unsubscribed';

export interface Consent {
  at: string;
  /** Version of the consent texts shown (config `form.consentVersion`). */
  textVersion: string;
}

export interface Proof {
  at: string;
  ip: string;
  userAgent: string;
}

export interface LeadRecord {
  schema: 1;
  id: string;
  email: string;
  firstName: string;
  status: LeadStatus;
  createdAt: string;
  updatedAt: string;
  /** Phase of the webinar at registration: `after` means a replay request. */
  phase: Phase;
  consents: {
    privacy: Consent;
    giveaway?: Consent;
    newsletter?: Consent;
  };
  source: {
    utm_source?: string;
    utm_medium?: string;
    utm_campaign?: string;
    utm_term?: string;
    utm_content?: string;
    /** Origin of the external page the visitor came from. */
    referrer?: string;
    /** Path of our page the form was sent from. */
    landingPath?: string;
  };
  proof: { registration: Proof; confirmation?: Proof };
  confirmedAt?: string;
}

/** What an export needs, kept in KV metadata. Short keys: the budget is 1024 bytes. */
export interface LeadMetadata {
  e: string; // email
  n?: string; // first name
  s: LeadStatus;
  c: string; // createdAt
  p: Phase;
  g?: 1; // giveaway entry with terms accepted
  nl?: 1; // newsletter consent
  cf?: string; // confirmedAt
  us?: string; // utm_source
  um?: string; // utm_medium
  uc?: string; // utm_campaign
  x?: 1; // the text fields are stored header-safe (see metadataOf); set on every new write
}

/** UTM values are cut to this length in metadata (the full value is in the record). */
const META_UTM_MAX = 40;

/** Printable ASCII except `%`: what a metadata text may hold as it is. */
const NOT_HEADER_SAFE = /[^\x20-\x24\x26-\x7e]/gu;
const TEXT_FIELDS = ['e', 'n', 'us', 'um', 'uc'] as const;

/**
 * KV metadata crosses an HTTP header inside workerd (`CF-KV-Metadata`), where only ASCII
 * is safe: locally, a first name like "Jürgen" made Miniflare print the whole metadata,
 * address included, as a warning to the terminal and CI logs. So every character outside
 * printable ASCII, and `%` itself, is stored percent-encoded (UTF-8); `decodeMetadata`
 * turns it back. Lone surrogates (possible in UTM values) become U+FFFD.
 */
function headerSafe(text: string): string {
  return text.replace(NOT_HEADER_SAFE, (ch: string) => {
    try {
      return encodeURIComponent(ch);
    } catch {
      return '%EF%BF%BD'; // a lone surrogate: encodeURIComponent refuses it
    }
  });
}

/** The metadata stored beside a lead: what an export needs, header-safe, ≤ 1024 bytes. */
export function metadataOf(record: LeadRecord): LeadMetadata {
  const m: LeadMetadata = { e: record.email, s: record.status, c: record.createdAt, p: record.phase, x: 1 };
  if (record.firstName) m.n = record.firstName;
  if (record.consents.giveaway) m.g = 1;
  if (record.consents.newsletter) m.nl = 1;
  if (record.confirmedAt) m.cf = record.confirmedAt;
  if (record.source.utm_source) m.us = record.source.utm_source.slice(0, META_UTM_MAX);
  if (record.source.utm_medium) m.um = record.source.utm_medium.slice(0, META_UTM_MAX);
  if (record.source.utm_campaign) m.uc = record.source.utm_campaign.slice(0, META_UTM_MAX);
  for (const k of TEXT_FIELDS) if (m[k] !== undefined) m[k] = headerSafe(m[k]);
  // UTM values may hold anything; each non-ASCII character takes up to 12 bytes encoded,
  // so they could push a long address past KV's 1024-byte limit and fail every put (503).
  // Drop UTM fields until it fits; the record keeps them in full.
  for (const k of ['uc', 'um', 'us'] as const) {
    if (new TextEncoder().encode(JSON.stringify(m)).byteLength <= METADATA_MAX_BYTES) break;
    delete m[k];
  }
  return m;
}

/**
 * Lead metadata as listed from KV, with its text fields decoded (metadata written before
 * the encoding, without `x`, is taken as it is). Null when an encoded field does not
 * decode: the caller counts it as unreadable.
 */
export function decodeMetadata(raw: unknown): unknown {
  if (!raw || typeof raw !== 'object' || (raw as { x?: unknown }).x !== 1) return raw;
  const out: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  try {
    for (const k of TEXT_FIELDS) if (typeof out[k] === 'string') out[k] = decodeURIComponent(out[k]);
  } catch {
    return null;
  }
  return out;
}

const keyCache = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keyCache.get(secret);
  if (!key) {
    key = crypto.subtle.importKey(
      'raw',
      new TextEncoder().encode(secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign'],
    );
    keyCache.set(secret, key);
  }
  return key;
}

/** Hex HMAC-SHA256 of the normalised (trimmed, lower-cased) email. */
export async function leadId(email: string, secret: string): Promise<string> {
  if (!secret || secret.length < 16)
    throw new Error('LEAD_KEY_SECRET is missing or shorter than 16 characters');
  const normalised = email.trim().toLowerCase();
  const mac = await crypto.subtle.sign('HMAC', await hmacKey(secret), new TextEncoder().encode(normalised));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export interface RegistrationContext {
  now: Date;
  phase: Phase;
  consentVersion: string;
  ip: string;
  userAgent: string;
  landingPath?: string;
  /** Giveaway entries are refused after the deadline. */
  giveawayOpen: boolean;
}

export type RegisterOutcome = 'created' | 'updated' | 'unchanged' | 'suppressed';

function newRecord(id: string, input: Registration, ctx: RegistrationContext): LeadRecord {
  const at = ctx.now.toISOString();
  const consent: Consent = { at, textVersion: ctx.consentVersion };
  const source: LeadRecord['source'] = {};
  for (const k of ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content'] as const) {
    if (input[k]) source[k] = input[k];
  }
  if (input.referrer) source.referrer = input.referrer;
  if (ctx.landingPath) source.landingPath = ctx.landingPath;
  return {
    schema: 1,
    id,
    email: input.email,
    firstName: input.firstName,
    status: 'pending',
    createdAt: at,
    updatedAt: at,
    phase: ctx.phase,
    consents: {
      privacy: consent,
      ...(input.giveaway && ctx.giveawayOpen ? { giveaway: consent } : {}),
      ...(input.newsletter ? { newsletter: consent } : {}),
    },
    source,
    proof: { registration: { at, ip: ctx.ip, userAgent: ctx.userAgent.slice(0, 400) } },
  };
}

/** Adds consents the existing record lacks; returns null when there is nothing new. */
function mergeRepeat(existing: LeadRecord, input: Registration, ctx: RegistrationContext): LeadRecord | null {
  const consent: Consent = { at: ctx.now.toISOString(), textVersion: ctx.consentVersion };
  const consents = { ...existing.consents };
  let changed = false;
  if (input.giveaway && ctx.giveawayOpen && !consents.giveaway) {
    consents.giveaway = consent;
    changed = true;
  }
  if (input.newsletter && !consents.newsletter) {
    consents.newsletter = consent;
    changed = true;
  }
  if (!existing.firstName && input.firstName) changed = true;
  if (!changed) return null;
  return {
    ...existing,
    firstName: existing.firstName || input.firstName,
    consents,
    updatedAt: consent.at,
  };
}

/** One write per key per isolate at a time: concurrent repeats wait for the first. */
const inFlight = new Map<string, Promise<RegisterOutcome>>();

export interface RegisterResult {
  id: string;
  outcome: RegisterOutcome;
}

/** A stored record, or null; an unreadable one counts as absent so the visitor can register anew. */
function parseRecord(raw: string | null): LeadRecord | null {
  if (raw === null) return null;
  try {
    return JSON.parse(raw) as LeadRecord;
  } catch {
    log.warn('lead.corrupt_record');
    return null;
  }
}

async function storeRegistration(
  kv: KVNamespace,
  id: string,
  input: Registration,
  ctx: RegistrationContext,
): Promise<RegisterOutcome> {
  // One bulk read for both keys: a single KV operation instead of two.
  const got = await kv.get([SUPPRESSED_PREFIX + id, LEAD_PREFIX + id], 'text');
  if ((got.get(SUPPRESSED_PREFIX + id) ?? null) !== null) return 'suppressed';
  const existing = parseRecord(got.get(LEAD_PREFIX + id) ?? null);
  const record = existing ? mergeRepeat(existing, input, ctx) : newRecord(id, input, ctx);
  if (!record) return 'unchanged';
  if (existing && ctx.now.getTime() - Date.parse(existing.updatedAt) < 1100) {
    // KV allows one write per second per key; the consents will be added on a later
    // repeat. The visitor's registration itself already stands.
    return 'unchanged';
  }
  await kv.put(LEAD_PREFIX + id, JSON.stringify(record), { metadata: metadataOf(record) });
  return existing ? 'updated' : 'created';
}

/**
 * Stores a validated registration and says what happened, with the lead's id. Throws when
 * KV fails; then nothing was written (a KV `put` of value plus metadata is all-or-nothing).
 */
export async function registerLead(
  kv: KVNamespace,
  secret: string,
  input: Registration,
  ctx: RegistrationContext,
): Promise<RegisterResult> {
  const id = await leadId(input.email, secret);
  const previous = inFlight.get(id);
  // Only await when there is something to wait for: an extra tick here would let every
  // concurrent repeat slip past before the first one registers itself below.
  if (previous) await previous.catch(() => undefined);
  const work = storeRegistration(kv, id, input, ctx);
  inFlight.set(id, work);
  try {
    return { id, outcome: await work };
  } finally {
    if (inFlight.get(id) === work) inFlight.delete(id);
  }
}

/** Reads one lead (admin and mail paths). */
export async function getLead(kv: KVNamespace, id: string): Promise<LeadRecord | null> {
  return kv.get<LeadRecord>(LEAD_PREFIX + id, 'json');
}

// --- erasure and suppression (ops, issue 3): eraseLead and friends go below ---

/** What a suppression key holds: when, and through which door (never the address). */
export interface SuppressionMarker {
  at: string;
  by: 'ops' | 'visitor';
}

/**
 * Erases a lead for good: first writes `suppressed:<id>` (so a replayed registration is
 * refused from that moment, see registerLead), then deletes `lead:<id>`. Idempotent; an
 * id without a lead still gets suppressed, so the answer (and the work done) is the same
 * for known and unknown addresses.
 * The id is the keyed hash from `leadId`: the suppression list never holds an address.
 * Throws when KV fails; a retry completes what is missing.
 */
export async function eraseLead(
  kv: KVNamespace,
  id: string,
  opts: { at?: Date; by?: SuppressionMarker['by'] } = {},
): Promise<void> {
  if (!/^[0-9a-f]{64}$/.test(id)) throw new Error('eraseLead: not a lead id');
  const marker: SuppressionMarker = { at: (opts.at ?? new Date()).toISOString(), by: opts.by ?? 'ops' };
  await kv.put(SUPPRESSED_PREFIX + id, JSON.stringify(marker), { metadata: marker });
  // Once-only mail markers (`sent:<kind>:<id>`) hold no personal data and expire by
  // themselves; they stay so a replayed queue message still finds "already sent".
  await kv.delete(LEAD_PREFIX + id);
}

/** Whether an id is on the suppression list (erased). */
export async function isSuppressed(kv: KVNamespace, id: string): Promise<boolean> {
  return (await kv.get(SUPPRESSED_PREFIX + id)) !== null;
}

/** All suppressed ids (list only; one call per 1000). */
export async function suppressedIds(kv: KVNamespace): Promise<Set<string>> {
  const out = new Set<string>();
  let cursor: string | undefined;
  do {
    const page = await kv.list({ prefix: SUPPRESSED_PREFIX, limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const k of page.keys) out.add(k.name.slice(SUPPRESSED_PREFIX.length));
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return out;
}

// --- double opt-in (mail, issue 5): confirmLead, unsubscribeLead and friends go below ---

/** Mail kinds with a once-only marker (`sent:<kind>:<lead id>`). */
export type SentKind = 'confirm' | 'welcome' | 'reminder24h' | 'reminder1h' | 'replay';
export const SENT_PREFIX = 'sent:';
export const sentKey = (kind: SentKind, id: string) => `${SENT_PREFIX}${kind}:${id}`;

/** What a marker records: when the mail went out, and for which webinar start. */
export interface SentMarker {
  at: string;
  startMs?: number;
}

/** Markers outlive every retry and reminder window; a rescheduled webinar is told apart by startMs. */
const SENT_TTL_S = 400 * 86_400;

export type ConfirmOutcome =
  | { outcome: 'confirmed'; record: LeadRecord }
  | { outcome: 'already'; record: LeadRecord }
  | { outcome: 'unsubscribed'; record: LeadRecord }
  | { outcome: 'missing' };

/**
 * Marks a pending lead confirmed, with time, IP and user agent as proof next to the
 * registration's. Confirming twice changes nothing; an unsubscribed lead is never
 * silently re-subscribed by an old link. Throws when KV fails (nothing written then).
 */
export async function confirmLead(kv: KVNamespace, id: string, proof: Proof): Promise<ConfirmOutcome> {
  const record = await getLead(kv, id);
  if (!record) return { outcome: 'missing' };
  if (record.status === 'confirmed') return { outcome: 'already', record };
  if (record.status === 'unsubscribed') return { outcome: 'unsubscribed', record };
  const confirmed: LeadRecord = {
    ...record,
    status: 'confirmed',
    confirmedAt: proof.at,
    updatedAt: proof.at,
    proof: { ...record.proof, confirmation: { ...proof, userAgent: proof.userAgent.slice(0, 400) } },
  };
  await kv.put(LEAD_PREFIX + id, JSON.stringify(confirmed), { metadata: metadataOf(confirmed) });
  return { outcome: 'confirmed', record: confirmed };
}

export type UnsubscribeOutcome = 'unsubscribed' | 'already' | 'missing';

/** Stops every further mail to the lead; the record (and its consents' history) stays. */
export async function unsubscribeLead(kv: KVNamespace, id: string, at: string): Promise<UnsubscribeOutcome> {
  const record = await getLead(kv, id);
  if (!record) return 'missing';
  if (record.status === 'unsubscribed') return 'already';
  const next: LeadRecord & { unsubscribedAt: string } = {
    ...record,
    status: 'unsubscribed',
    updatedAt: at,
    unsubscribedAt: at,
  };
  await kv.put(LEAD_PREFIX + id, JSON.stringify(next), { metadata: metadataOf(next) });
  return 'unsubscribed';
}

/** Bulk read of lead records (KV bulk get: up to 100 keys count as one operation). */
export async function getLeads(kv: KVNamespace, ids: string[]): Promise<Map<string, LeadRecord | null>> {
  const out = new Map<string, LeadRecord | null>();
  for (let i = 0; i < ids.length; i += 100) {
    const chunk = ids.slice(i, i + 100);
    const got = await kv.get<LeadRecord>(
      chunk.map((id) => LEAD_PREFIX + id),
      'json',
    );
    for (const id of chunk) out.set(id, got.get(LEAD_PREFIX + id) ?? null);
  }
  return out;
}

/** Bulk read of once-only markers, keyed by `sentKey(kind, id)`. */
export async function getSentMarkers(
  kv: KVNamespace,
  keys: string[],
): Promise<Map<string, SentMarker | null>> {
  const out = new Map<string, SentMarker | null>();
  for (let i = 0; i < keys.length; i += 100) {
    const chunk = keys.slice(i, i + 100);
    const got = await kv.get<SentMarker>(chunk, 'json');
    for (const k of chunk) out.set(k, got.get(k) ?? null);
  }
  return out;
}

/** Records that a mail went out; written before the queue message is acknowledged. */
export async function markSent(
  kv: KVNamespace,
  kind: SentKind,
  id: string,
  marker: SentMarker,
): Promise<void> {
  await kv.put(sentKey(kind, id), JSON.stringify(marker), { expirationTtl: SENT_TTL_S });
}

export interface PurgeResult {
  scanned: number;
  purged: number;
  /** Set when the run stopped at its delete budget; the next run continues from here. */
  cursor?: string;
}

/**
 * Deletes pending leads registered before `cutoffMs`, with their confirmation marker.
 * Reads only `list` metadata; stops after `maxDeletes` deletes (KV allows 1000 operations
 * per invocation), returning the cursor to continue from.
 */
export async function purgeUnconfirmed(
  kv: KVNamespace,
  cutoffMs: number,
  maxDeletes: number,
  cursor?: string,
): Promise<PurgeResult> {
  let scanned = 0;
  let purged = 0;
  let next: string | undefined = cursor;
  do {
    const page: KVNamespaceListResult<LeadMetadata> = await kv.list<LeadMetadata>({
      prefix: LEAD_PREFIX,
      cursor: next,
      limit: 1000,
    });
    scanned += page.keys.length;
    const stale = page.keys.filter((k) => k.metadata?.s === 'pending' && Date.parse(k.metadata.c) < cutoffMs);
    for (const k of stale) {
      if (purged >= maxDeletes) return { scanned, purged, cursor: next };
      const id = k.name.slice(LEAD_PREFIX.length);
      await Promise.all([kv.delete(k.name), kv.delete(sentKey('confirm', id))]);
      purged += 1;
    }
    next = page.list_complete ? undefined : page.cursor;
  } while (next);
  return { scanned, purged };
}
