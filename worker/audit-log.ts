/**
 * The admin audit log in D1 (`audit_log`): one row per entry, newest first by id. Entries
 * never hold a secret, a lead's email or an erased address; the identity is the admin's
 * (an Access email or `token:<role>`). See docs/decisions/022-audit-log.md.
 */
import { errorMessage, log } from './log';

/** Entries are deleted after about 13 months (the hourly cron). */
export const AUDIT_RETENTION_MS = 400 * 86_400_000;

export type AuditAction =
  | 'auth.failed'
  | 'session.created'
  | 'session.failed'
  | 'session.ended'
  | 'leads.exported'
  | 'lead.erased'
  | 'giveaway.drawn'
  | 'giveaway.refused'
  | 'audit.read'
  | (string & {});

export type AuditDetail = Record<string, string | number | boolean>;

export interface AuditEntry {
  /** ISO time. */
  t: string;
  /** Role of the actor, `none` when unauthenticated. */
  role: string;
  /** Actor: Access email, `token:<role>`, or `anonymous`. */
  id: string;
  action: AuditAction;
  /** Short, non-personal facts: counts, format, reason codes, the request path. */
  detail?: AuditDetail;
}

/** Long values are cut: the log is for facts, not payloads. */
function fit(detail: AuditDetail | undefined): AuditDetail {
  const out: AuditDetail = {};
  for (const [k, v] of Object.entries(detail ?? {}).slice(0, 20))
    out[k.slice(0, 40)] = typeof v === 'string' ? v.slice(0, 300) : v;
  return out;
}

/**
 * Appends one entry. Never throws: an unwritable audit log is reported in the worker log
 * and must not turn an ops action into an error after it already happened.
 * @returns whether the entry was stored.
 */
export async function appendAudit(
  db: D1Database,
  entry: Omit<AuditEntry, 't'> & { t?: string },
): Promise<boolean> {
  const at = entry.t ? Date.parse(entry.t) : Date.now();
  try {
    await db
      .prepare('INSERT INTO audit_log (at, role, actor, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)')
      .bind(
        at,
        entry.role.slice(0, 40),
        entry.id.slice(0, 254),
        entry.action.slice(0, 80),
        JSON.stringify(fit(entry.detail)),
      )
      .run();
    return true;
  } catch (error) {
    log.error('audit.write_failed', { action: entry.action, message: errorMessage(error) });
    return false;
  }
}

interface AuditRow {
  id: number;
  at: number;
  role: string;
  actor: string;
  action: string;
  detail: string;
}

/**
 * Newest entries first, up to `limit` (≤ 1000); `cursor` (from the previous page)
 * continues below it. Keyset pagination on the row id: stable while entries are added.
 */
export async function readAudit(
  db: D1Database,
  opts: { limit?: number; cursor?: string } = {},
): Promise<{ entries: AuditEntry[]; cursor?: string }> {
  const limit = Math.min(Math.max(opts.limit ?? 100, 1), 1000);
  const below = opts.cursor && /^\d{1,15}$/.test(opts.cursor) ? Number(opts.cursor) : Number.MAX_SAFE_INTEGER;
  const { results } = await db
    .prepare('SELECT * FROM audit_log WHERE id < ?1 ORDER BY id DESC LIMIT ?2')
    .bind(below, limit + 1)
    .all<AuditRow>();
  const page = results.slice(0, limit);
  const entries = page.map((r) => {
    let detail: AuditDetail = {};
    try {
      detail = JSON.parse(r.detail) as AuditDetail;
    } catch {
      // An unreadable detail is shown as none; the entry itself still counts.
    }
    return { t: new Date(r.at).toISOString(), role: r.role, id: r.actor, action: r.action, detail };
  });
  return { entries, ...(results.length > limit ? { cursor: String(page[page.length - 1].id) } : {}) };
}

/** Deletes entries older than the retention period (hourly cron). */
export async function purgeAudit(db: D1Database, nowMs: number): Promise<number> {
  const res = await db
    .prepare('DELETE FROM audit_log WHERE at < ?1')
    .bind(nowMs - AUDIT_RETENTION_MS)
    .run();
  return res.meta.changes ?? 0;
}
