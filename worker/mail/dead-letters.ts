/**
 * Dead letters in D1 (table `dead_letters`), so ops can see and retry them in the admin:
 * one row per failed job, keyed `<kind>:<lead id>` for a mail (a job that fails again
 * overwrites its own entry instead of piling up) and `<type>:<message id>` otherwise. The
 * lead id sits in its own column, so erasing a lead deletes its dead letters in the same
 * transaction (worker/store/lead-store.ts, eraseMailbox). Rows are kept 30 days
 * (`purgeDeadLetters`, hourly cron).
 */
import * as v from 'valibot';
import { redact } from '../log';
import { MailJob } from './jobs';

/** Dead letters are kept for 30 days. */
export const DEAD_LETTER_RETENTION_MS = 30 * 86_400_000;
/** Entries per page of `listDeadLetters`. */
export const DEAD_LETTER_PAGE = 200;
/** A job bigger than this is stored as a note, not verbatim (our jobs are < 1 KB). */
const MAX_BODY_CHARS = 32_000;

/** What a dead-letter key looks like; the retry route accepts nothing else. */
export const DEAD_LETTER_KEY = /^[a-z0-9]{1,20}:[A-Za-z0-9_-]{1,64}$/i;

export interface DeadLetterSummary {
  kind: string;
  reason: string;
  attempts: number;
  /** ISO time of the last failed attempt. */
  failedAt: string;
}

export interface DeadLetterEntry extends DeadLetterSummary {
  key: string;
  body: unknown;
}

/** The key for a failed job (or for whatever the message held). */
export function deadLetterKey(body: unknown, messageId: string): string {
  const mail = v.safeParse(MailJob, body);
  if (mail.success) return `${mail.output.kind}:${mail.output.leadId}`;
  const type =
    body && typeof body === 'object' && (body as { type?: unknown }).type === 'fanout' ? 'fanout' : 'invalid';
  return `${type}:${messageId.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 64) || 'x'}`;
}

/**
 * Stores (or overwrites) one dead letter. A mail job's entry is kept only while its lead
 * exists: a job of an erased lead has nobody left to send to.
 * @returns whether a row was written.
 */
export async function storeDeadLetter(
  db: D1Database,
  key: string,
  body: unknown,
  summary: DeadLetterSummary,
): Promise<boolean> {
  const mail = v.safeParse(MailJob, body);
  const leadId = mail.success ? mail.output.leadId : null;
  const failedAt = Date.parse(summary.failedAt);
  let json = JSON.stringify(body) ?? 'null';
  if (json.length > MAX_BODY_CHARS) json = JSON.stringify(`(Auftrag zu groß: ${json.length} Zeichen)`);
  const res = await db
    .prepare(
      `INSERT INTO dead_letters (key, kind, lead_id, reason, attempts, failed_at, body)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
       WHERE ?3 IS NULL OR EXISTS (SELECT 1 FROM leads WHERE id = ?3)
       ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, reason = excluded.reason,
         attempts = excluded.attempts, failed_at = excluded.failed_at, body = excluded.body`,
    )
    .bind(
      key.slice(0, 100),
      summary.kind.slice(0, 40),
      leadId,
      // An upstream error may quote the recipient ("email to … not allowed"); the entry names
      // the lead by id, so the reason needs no address.
      redact(summary.reason).slice(0, 300),
      Math.max(0, Math.floor(summary.attempts) || 0),
      Number.isFinite(failedAt) ? failedAt : Date.now(),
      json,
    )
    .run();
  return (res.meta.changes ?? 0) > 0;
}

interface DeadLetterRow {
  key: string;
  kind: string;
  reason: string;
  attempts: number;
  failed_at: number;
}

const summaryOf = (r: DeadLetterRow): DeadLetterSummary & { key: string } => ({
  key: r.key,
  kind: r.kind,
  reason: r.reason,
  attempts: r.attempts,
  failedAt: new Date(r.failed_at).toISOString(),
});

/**
 * Summaries, most recent failure first, `DEAD_LETTER_PAGE` per page; `cursor` (from the
 * previous page) continues after it. Keyset pagination on (failed_at, key).
 */
export async function listDeadLetters(
  db: D1Database,
  cursor?: string,
): Promise<{ entries: (DeadLetterSummary & { key: string })[]; cursor?: string }> {
  const at = cursor ? /^(\d{1,15})\.(.{1,100})$/.exec(cursor) : null;
  const { results } = await db
    .prepare(
      `SELECT key, kind, reason, attempts, failed_at FROM dead_letters
       WHERE ?1 IS NULL OR failed_at < ?1 OR (failed_at = ?1 AND key > ?2)
       ORDER BY failed_at DESC, key LIMIT ?3`,
    )
    .bind(at ? Number(at[1]) : null, at ? at[2] : '', DEAD_LETTER_PAGE + 1)
    .all<DeadLetterRow>();
  const page = results.slice(0, DEAD_LETTER_PAGE);
  const last = page[page.length - 1];
  return {
    entries: page.map(summaryOf),
    ...(results.length > DEAD_LETTER_PAGE ? { cursor: `${last.failed_at}.${last.key}` } : {}),
  };
}

/** One dead letter with its job, or null. */
export async function getDeadLetter(db: D1Database, key: string): Promise<DeadLetterEntry | null> {
  const row = await db
    .prepare('SELECT key, kind, reason, attempts, failed_at, body FROM dead_letters WHERE key = ?1')
    .bind(key)
    .first<DeadLetterRow & { body: string }>();
  if (!row) return null;
  let body: unknown;
  try {
    body = JSON.parse(row.body);
  } catch {
    body = row.body;
  }
  return { ...summaryOf(row), body };
}

export async function deleteDeadLetter(db: D1Database, key: string): Promise<void> {
  await db.prepare('DELETE FROM dead_letters WHERE key = ?1').bind(key).run();
}

/** Deletes dead letters older than 30 days (hourly cron). @returns rows deleted. */
export async function purgeDeadLetters(db: D1Database, nowMs: number): Promise<number> {
  const res = await db
    .prepare('DELETE FROM dead_letters WHERE failed_at < ?1')
    .bind(nowMs - DEAD_LETTER_RETENTION_MS)
    .run();
  return res.meta.changes ?? 0;
}
