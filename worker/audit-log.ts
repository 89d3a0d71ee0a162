/**
 * The admin audit log in KV (`LEADS`): one key per entry, the entry itself in the key's
 * metadata so reading the log is one `list` call per 1000 entries and never a `get`.
 *
 * Key: `audit:<inverted time>:<iso time>:<random>`. The inverted time
 * (9999999999999 − epoch ms, 13 digits) makes KV's ascending key order newest-first, so
 * "the latest 100 entries" is a single `list`. The ISO time follows for people reading
 * keys in the dashboard. Entries never hold a secret, a lead's email or an erased address;
 * the identity is the admin's (an Access email or `token:<role>`).
 * See docs/decisions/022-audit-log.md.
 */
import { errorMessage, log } from './log';

export const AUDIT_PREFIX = 'audit:';
/** Entries expire after about 13 months (KV `expirationTtl`, seconds). */
export const AUDIT_TTL_S = 400 * 86_400;

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

export interface AuditEntry {
  /** ISO time. */
  t: string;
  /** Role of the actor, `none` when unauthenticated. */
  role: string;
  /** Actor: Access email, `token:<role>`, or `anonymous`. */
  id: string;
  action: AuditAction;
  /** Short, non-personal facts: counts, format, reason codes, the request path. */
  detail?: Record<string, string | number | boolean>;
}

const MAX_KEY_MS = 9_999_999_999_999;

function randomSuffix(): string {
  const b = crypto.getRandomValues(new Uint8Array(6));
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

export function auditKey(at: Date): string {
  const inverted = String(MAX_KEY_MS - at.getTime()).padStart(13, '0');
  return `${AUDIT_PREFIX}${inverted}:${at.toISOString()}:${randomSuffix()}`;
}

/** Metadata is capped at 1024 bytes by KV: long detail values are cut. */
function fit(entry: AuditEntry): AuditEntry {
  const detail: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(entry.detail ?? {}))
    detail[k.slice(0, 40)] = typeof v === 'string' ? v.slice(0, 120) : v;
  const out: AuditEntry = { ...entry, id: entry.id.slice(0, 254), detail };
  while (new TextEncoder().encode(JSON.stringify(out)).length > 1000 && Object.keys(detail).length)
    delete detail[Object.keys(detail).pop()!];
  return out;
}

/**
 * Appends one entry. Never throws: an unwritable audit log is reported in the worker log
 * and must not turn an ops action into an error after it already happened.
 * @returns whether the entry was stored.
 */
export async function appendAudit(
  kv: KVNamespace,
  entry: Omit<AuditEntry, 't'> & { t?: string },
): Promise<boolean> {
  const at = entry.t ? new Date(entry.t) : new Date();
  const full = fit({ ...entry, t: at.toISOString() });
  try {
    await kv.put(auditKey(at), '', { metadata: full, expirationTtl: AUDIT_TTL_S });
    return true;
  } catch (error) {
    log.error('audit.write_failed', { action: entry.action, message: errorMessage(error) });
    return false;
  }
}

/** Newest entries first, up to `limit` (≤ 1000), optionally continuing from a cursor. */
export async function readAudit(
  kv: KVNamespace,
  opts: { limit?: number; cursor?: string } = {},
): Promise<{ entries: AuditEntry[]; cursor?: string }> {
  const res = await kv.list<AuditEntry>({
    prefix: AUDIT_PREFIX,
    limit: Math.min(opts.limit ?? 100, 1000),
    ...(opts.cursor ? { cursor: opts.cursor } : {}),
  });
  const entries = res.keys.flatMap((k) => (k.metadata && typeof k.metadata === 'object' ? [k.metadata] : []));
  return { entries, ...(res.list_complete ? {} : { cursor: res.cursor }) };
}
