/**
 * The jobs on the mail queue, validated with valibot when they come off it (a queue
 * message is outside input too: an old deployment, a hand-sent message or a bug can put
 * anything there). A job names a lead and a mail kind, never an address: the consumer reads
 * the current record, so an unsubscribe or erasure in between is always honoured.
 *
 * - `mail`: send one mail of `kind` to one lead.
 * - `fanout`: one slice of the lead id space (`idFrom` ≤ id < `idTo`, hex prefixes) for one
 *   reminder kind; the consumer reads the confirmed leads of that slice from D1 and turns
 *   them into `mail` jobs, so the cron run enqueues a fixed number of messages whatever
 *   the number of leads (docs/decisions/041-reminder-fanout.md). Lead ids are HMACs, so
 *   slices are evenly filled.
 */
import * as v from 'valibot';

/** Attempts after the first; in step with `max_retries` of the consumer in wrangler.toml. */
export const MAIL_MAX_RETRIES = 5;

export const MAIL_KINDS = ['confirm', 'welcome', 'reminder24h', 'reminder1h', 'replay'] as const;
export type MailKind = (typeof MAIL_KINDS)[number];
export const REMINDER_KINDS = ['reminder24h', 'reminder1h', 'replay'] as const;
export type ReminderKind = (typeof REMINDER_KINDS)[number];

const LeadIdSchema = v.pipe(
  v.string('Die Lead-Kennung fehlt.'),
  v.regex(/^[0-9a-f]{64}$/, 'Die Lead-Kennung ist ungültig.'),
);
const Millis = v.pipe(
  v.number('Zeitpunkt fehlt.'),
  v.integer('Zeitpunkt ist keine ganze Zahl.'),
  v.minValue(0),
);
/** Where the links in the mail point: the origin of the request that caused it (optional). */
const Origin = v.pipe(
  v.string(),
  v.maxLength(200),
  v.regex(/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/, 'Der Ursprung ist keine gültige Adresse.'),
);

export const MailJob = v.object({
  type: v.literal('mail'),
  kind: v.picklist(MAIL_KINDS, 'Unbekannte Mail-Art.'),
  leadId: LeadIdSchema,
  /** When the mail was asked for; a confirmation already sent after this is not sent again. */
  requestedAt: Millis,
  /** Webinar start the mail is about (reminders): a rescheduled webinar gets its own reminders. */
  startMs: v.optional(Millis),
  origin: v.optional(Origin),
  /**
   * Which send of this kind it is (worker/store/mail-sends.ts): duplicates of one request
   * share it, so they send once. Reminders use the webinar start instead.
   */
  ref: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9]{1,40}$/, 'Die Versandkennung ist ungültig.'))),
});

/** A lead-id prefix of 1 to 64 hex digits; `idTo` may also be `~` (past every id). */
const IdBound = v.pipe(v.string(), v.regex(/^(?:[0-9a-f]{1,64}|~)$/, 'Die Bereichsgrenze ist ungültig.'));

export const FanoutJob = v.object({
  type: v.literal('fanout'),
  kind: v.picklist(REMINDER_KINDS, 'Unbekannte Erinnerungs-Art.'),
  startMs: Millis,
  requestedAt: Millis,
  idFrom: IdBound,
  idTo: IdBound,
});

export const QueueJob = v.variant('type', [MailJob, FanoutJob], 'Unbekannter Auftragstyp.');

export type MailJob = v.InferOutput<typeof MailJob>;
export type FanoutJob = v.InferOutput<typeof FanoutJob>;
export type QueueJob = v.InferOutput<typeof QueueJob>;

/** A dead letter as our consumer sends it to the DLQ: the job (or what was there) and why. */
export const DeadLetter = v.object({
  deadLetter: v.literal(1),
  body: v.unknown(),
  reason: v.pipe(v.string(), v.maxLength(500)),
  attempts: v.number(),
  failedAt: v.string(),
});
export type DeadLetter = v.InferOutput<typeof DeadLetter>;

/** One readable line from valibot issues, for the dead-letter reason. */
export function describeIssues(issues: v.BaseIssue<unknown>[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${v.getDotPath(i) ?? '(Nachricht)'}: ${i.message}`)
    .join('; ');
}
