/**
 * What deployments from before D1 kept in the `LEGACY_LEADS` KV namespace, and how each
 * record becomes rows of migrations/0001_person_data.sql. Pure functions, no bindings:
 * the move itself (paging, writing, checking) is worker/migrate/kv-to-d1.ts.
 *
 * Old formats (schema 1, see docs/decisions/065-kv-to-d1-migration.md):
 * - `lead:<legacy id>`: the full record (consents `{ at, textVersion }` without their text,
 *   proof of registration and confirmation), the legacy id being HMAC(trimmed, lower-cased
 *   address). The new id also normalises Unicode and the domain, so it is recomputed from
 *   the address, with the mailbox key.
 * - `suppressed:<legacy id>` `{ at, by }`: an erased address; the address is gone, so the
 *   legacy id itself becomes the suppression entry (registerLead checks both keys).
 * - `sent:<kind>:<legacy id>` `{ at, startMs? }`, `dlq:<kind>:<legacy id>` (value `{ body }`,
 *   summary in the metadata), `fanout:<kind>:<startMs>`, `audit:<…>` (entry in the
 *   metadata), `draw:<iso>:<random>`, `devoutbox:<…>` (dev only, never moved).
 */
import * as v from 'valibot';
import { sha256Hex } from '../crypto';
import { leadKeys } from '../store/lead-keys';

export const LEGACY_PREFIXES = {
  lead: 'lead:',
  suppressed: 'suppressed:',
  sent: 'sent:',
  dlq: 'dlq:',
  fanout: 'fanout:',
  audit: 'audit:',
  draw: 'draw:',
  devoutbox: 'devoutbox:',
} as const;
export type LegacyKind = keyof typeof LEGACY_PREFIXES;
export const LEGACY_KINDS = Object.keys(LEGACY_PREFIXES) as LegacyKind[];

/** Mail kinds that had once-only markers (`sent:<kind>:<id>`) and dead letters. */
export const LEGACY_MAIL_KINDS = ['confirm', 'welcome', 'reminder24h', 'reminder1h', 'replay'] as const;
export type LegacyMailKind = (typeof LEGACY_MAIL_KINDS)[number];

/** Consents moved without the text shown: the old store kept only its version. */
export const NOTE_NO_TEXT = 'migrated_without_text';
/** …and given after the lead's only confirmation, so nothing confirmed them. */
export const NOTE_AFTER_CONFIRMATION = 'migrated_without_text;given_after_confirmation';

const Text = v.string();
const Iso = v.pipe(
  v.string(),
  v.check((s) => Number.isFinite(Date.parse(s))),
);
const LegacyConsent = v.object({ at: Iso, textVersion: v.optional(Text, '') });
const LegacyProof = v.object({
  at: v.optional(Text),
  ip: v.optional(Text, ''),
  userAgent: v.optional(Text, ''),
});

/** A schema-1 lead record; unknown fields are ignored, a record without these is unreadable. */
export const LegacyLead = v.object({
  email: v.pipe(v.string(), v.minLength(3), v.maxLength(320)),
  firstName: v.optional(Text, ''),
  status: v.picklist(['pending', 'confirmed', 'unsubscribed']),
  createdAt: Iso,
  updatedAt: v.optional(Iso),
  confirmedAt: v.optional(Iso),
  unsubscribedAt: v.optional(Iso),
  phase: v.optional(v.picklist(['before', 'live', 'after']), 'before'),
  consents: v.object({
    privacy: LegacyConsent,
    giveaway: v.optional(LegacyConsent),
    newsletter: v.optional(LegacyConsent),
  }),
  source: v.optional(v.record(v.string(), v.string()), {}),
  proof: v.optional(
    v.object({ registration: v.optional(LegacyProof), confirmation: v.optional(LegacyProof) }),
    {},
  ),
});
export type LegacyLead = v.InferOutput<typeof LegacyLead>;

export const LegacySentMarker = v.object({ at: Iso, startMs: v.optional(v.number()) });
export const LegacySuppression = v.object({
  at: v.optional(Iso),
  by: v.optional(v.picklist(['ops', 'visitor']), 'ops'),
});
export const LegacyFanout = v.object({
  status: v.picklist(['running', 'done']),
  enqueued: v.optional(v.number(), 0),
  at: v.optional(v.string(), ''),
});
export const LegacyAudit = v.object({
  t: Iso,
  role: v.string(),
  id: v.string(),
  action: v.string(),
  detail: v.optional(v.record(v.string(), v.union([v.string(), v.number(), v.boolean()])), {}),
});
export const LegacyDeadLetter = v.object({
  kind: v.optional(v.string(), 'unbekannt'),
  reason: v.optional(v.string(), ''),
  attempts: v.optional(v.number(), 0),
  failedAt: v.optional(v.string(), ''),
});
export const LegacyDraw = v.object({
  at: Iso,
  by: v.string(),
  winnersRequested: v.number(),
  eligibleCount: v.number(),
  eligibleHash: v.string(),
  deadline: Iso,
  winners: v.array(v.object({ id: v.string(), email: v.string() })),
  redraw: v.optional(v.object({ reason: v.string(), previous: v.string() })),
});
export type LegacyDraw = v.InferOutput<typeof LegacyDraw>;

/** Rows for the `json_each` inserts of kv-to-d1.ts (column names as in the schema). */
export interface LeadRows {
  legacyId: string;
  lead: Record<string, string | number | null>;
  consents: Record<string, string | number | null>[];
  events: { lead_id: string; type: string; at: number; detail: string }[];
}

const ms = (iso: string | undefined, fallback: number) => {
  const t = iso === undefined ? NaN : Date.parse(iso);
  return Number.isFinite(t) ? t : fallback;
};
const UA_MAX = 400;

/** One old record as a lead row, its consents and its history. */
export async function leadRows(
  legacyId: string,
  r: LegacyLead,
  secret: string,
  nowMs: number,
): Promise<LeadRows> {
  const { id, mailbox } = await leadKeys(r.email, secret);
  const created = ms(r.createdAt, nowMs);
  const confirmedAt = r.confirmedAt ? ms(r.confirmedAt, created) : null;
  const unsubscribedAt = r.status === 'unsubscribed' ? ms(r.unsubscribedAt ?? r.updatedAt, created) : null;
  const given: { ip?: string; userAgent?: string } = r.proof.registration ?? {};
  const confirmation = r.proof.confirmation;
  const source = r.source;
  const lead = {
    id,
    mailbox,
    email: r.email.trim(),
    first_name: r.firstName,
    status: r.status,
    phase: r.phase,
    created_at: created,
    updated_at: ms(r.updatedAt, created),
    confirmed_at: confirmedAt,
    unsubscribed_at: unsubscribedAt,
    utm_source: source.utm_source ?? null,
    utm_medium: source.utm_medium ?? null,
    utm_campaign: source.utm_campaign ?? null,
    utm_term: source.utm_term ?? null,
    utm_content: source.utm_content ?? null,
    referrer: source.referrer ?? null,
    landing_path: source.landingPath ?? null,
  };
  const consents = (['privacy', 'giveaway', 'newsletter'] as const).flatMap((kind) => {
    const c = r.consents[kind];
    if (!c) return [];
    const givenAt = ms(c.at, created);
    // The old store confirmed everything given up to the one confirmation; a consent added
    // by a later repeat never had its own.
    const confirmed = confirmedAt !== null && givenAt <= confirmedAt;
    // Unsubscribing withdraws the mail consents; the giveaway entry stays (as the new store does).
    const withdrawn = unsubscribedAt !== null && kind !== 'giveaway';
    return [
      {
        lead_id: id,
        kind,
        status: withdrawn ? 'withdrawn' : confirmed ? 'confirmed' : 'pending',
        text_version: c.textVersion,
        note: confirmed || confirmedAt === null ? NOTE_NO_TEXT : NOTE_AFTER_CONFIRMATION,
        given_at: givenAt,
        given_ip: given.ip ?? '',
        given_ua: (given.userAgent ?? '').slice(0, UA_MAX),
        confirmed_at: confirmed ? confirmedAt : null,
        confirmed_ip: confirmed ? (confirmation?.ip ?? '') : null,
        confirmed_ua: confirmed ? (confirmation?.userAgent ?? '').slice(0, UA_MAX) : null,
        withdrawn_at: withdrawn ? unsubscribedAt : null,
      },
    ];
  });
  const events = [
    { lead_id: id, type: 'registered', at: created, detail: '{}' },
    ...(confirmedAt !== null ? [{ lead_id: id, type: 'confirmed', at: confirmedAt, detail: '{}' }] : []),
    ...(unsubscribedAt !== null
      ? [{ lead_id: id, type: 'unsubscribed', at: unsubscribedAt, detail: '{}' }]
      : []),
    { lead_id: id, type: 'migrated', at: nowMs, detail: JSON.stringify({ from: 'kv' }) },
  ];
  return { legacyId, lead, consents, events };
}

/**
 * The claim key a once-only marker becomes: reminders by their webinar start (as the
 * consumer claims them), confirmation and welcome as the registration's first request
 * (`new`), so a job of the old deployment still in the queue finds its mail sent.
 */
export function sendRef(kind: LegacyMailKind, marker: v.InferOutput<typeof LegacySentMarker>): string {
  if (kind === 'confirm' || kind === 'welcome') return 'new';
  return marker.startMs !== undefined ? String(marker.startMs) : 'migrated';
}

/** The draw's row id: stable across re-runs, in the shape of new draw ids (24 hex). */
export async function drawId(legacyKey: string): Promise<string> {
  return (await sha256Hex(legacyKey)).slice(0, 24);
}
