/**
 * Counts per minute for the ops dashboard and attack mode (table `abuse_counts`):
 * refusals by reason, confirmation mails sent and paced. Accepted registrations are
 * counted inside the registration's own batch (worker/store/lead-store.ts).
 *
 * Refusals are cheap to cause, so they are not written one by one: an isolate adds them
 * up and writes them in one batch, with at most one write in flight; counts reach D1
 * within a round trip or two, never waiting for a cron run.
 */
import { errorMessage, log } from '../log';

export const REFUSAL_REASONS = [
  'challenge',
  'honeypot',
  'too_fast',
  'rate_limit',
  'form_fields',
  'question',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];
export type CountName = `refused:${RefusalReason}` | 'accepted' | 'mail:sent' | 'mail:paced';

const MINUTE = 60_000;
const pending = new Map<string, number>();
let inFlight: Promise<void> | null = null;

const bucketOf = (ms: number) => ms - (ms % MINUTE);

async function flush(db: D1Database, after?: () => Promise<void>): Promise<void> {
  while (pending.size) {
    const rows = [...pending.entries()];
    pending.clear();
    try {
      await db.batch(
        rows.map(([key, n]) => {
          const [minute, reason] = key.split('|');
          return db
            .prepare(
              `INSERT INTO abuse_counts (minute, reason, n) VALUES (?1, ?2, ?3)
               ON CONFLICT (minute, reason) DO UPDATE SET n = n + excluded.n`,
            )
            .bind(Number(minute), reason, n);
        }),
      );
      await after?.();
    } catch (error) {
      log.error('abuse.count_failed', { message: errorMessage(error) });
    }
  }
}

/**
 * Adds to a count; returns the write to hand to `waitUntil` (or to await), which is the
 * one already in flight when there is one. `after` runs after each write (attack mode).
 */
export function count(
  db: D1Database,
  name: CountName,
  nowMs = Date.now(),
  by = 1,
  after?: () => Promise<void>,
): Promise<void> {
  const key = `${bucketOf(nowMs)}|${name}`;
  pending.set(key, (pending.get(key) ?? 0) + by);
  if (!inFlight) inFlight = flush(db, after).finally(() => (inFlight = null));
  return inFlight;
}

/** Refusals of every reason in the window ending now. */
export async function refusalsSince(db: D1Database, sinceMs: number): Promise<number> {
  const row = await db
    .prepare(
      "SELECT COALESCE(SUM(n), 0) AS n FROM abuse_counts WHERE minute >= ?1 AND reason LIKE 'refused:%'",
    )
    .bind(bucketOf(sinceMs))
    .first<{ n: number }>();
  return row?.n ?? 0;
}

export interface HourCounts {
  /** Start of the hour, ISO 8601 UTC. */
  hour: string;
  accepted: number;
  refused: Record<RefusalReason, number>;
  mailsSent: number;
  mailsPaced: number;
}

/** Per hour, newest first, for the last `hours` hours (dashboard and GET /api/admin/stats). */
export async function hourlyCounts(db: D1Database, nowMs: number, hours = 24): Promise<HourCounts[]> {
  const HOUR = 60 * MINUTE;
  const first = nowMs - (nowMs % HOUR) - (hours - 1) * HOUR;
  const { results } = await db
    .prepare(
      `SELECT minute - (minute % 3600000) AS hour, reason, SUM(n) AS n FROM abuse_counts
       WHERE minute >= ?1 GROUP BY hour, reason`,
    )
    .bind(first)
    .all<{ hour: number; reason: string; n: number }>();
  const out = new Map<number, HourCounts>();
  for (let h = first; h <= nowMs; h += HOUR)
    out.set(h, {
      hour: new Date(h).toISOString(),
      accepted: 0,
      refused: Object.fromEntries(REFUSAL_REASONS.map((r) => [r, 0])) as Record<RefusalReason, number>,
      mailsSent: 0,
      mailsPaced: 0,
    });
  for (const r of results) {
    const row = out.get(r.hour);
    if (!row) continue;
    if (r.reason === 'accepted') row.accepted += r.n;
    else if (r.reason === 'mail:sent') row.mailsSent += r.n;
    else if (r.reason === 'mail:paced') row.mailsPaced += r.n;
    else if (r.reason.startsWith('refused:')) {
      const reason = r.reason.slice(8) as RefusalReason;
      if (reason in row.refused) row.refused[reason] += r.n;
    }
  }
  return [...out.values()].reverse();
}

/** Deletes counts older than 30 days (hourly cron). */
export async function purgeCounts(db: D1Database, nowMs: number): Promise<void> {
  await db
    .prepare('DELETE FROM abuse_counts WHERE minute < ?1')
    .bind(nowMs - 30 * 86_400_000)
    .run();
}
