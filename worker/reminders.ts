/**
 * Cron work (wrangler.toml `[triggers] crons`), dispatched on the cron expression. Every
 * part does a fixed, small number of D1 queries and queue calls whatever the number of
 * leads; the arithmetic for 500,000 leads is in docs/decisions/041-reminder-fanout.md.
 *
 * - every 5 minutes, `fanOutReminders`: when a reminder is due (24 h before the start,
 *   1 h before, the replay after the end when the config has a replay link) it takes the
 *   lease on the `fanouts` row of (kind, start) with one conditional upsert and enqueues
 *   one `fanout` job per slice of the lead-id space (FANOUT_SLICES). The consumer reads a
 *   slice's confirmed leads from D1 and turns them into mail jobs; this run touches no lead.
 * - hourly, `sweepConfirmations` re-enqueues the confirmation for pending leads that never
 *   got one (the enqueue at registration failed), `purgeUnconfirmed` deletes leads never
 *   confirmed within PURGE_UNCONFIRMED_DAYS (in chunks, until none is left or the run's
 *   budget is spent; the next hour continues), and the audit log, dead letters, spent
 *   challenge solutions and abuse counters past their retention are deleted.
 * - every 5 minutes also: the KV mirror of the live config version is checked against
 *   D1, and attack mode switches itself off after a calm half hour.
 */
import { scheduleOf } from '../src/lib/schedule';
import { evaluateAttackMode } from './abuse/attack-mode';
import { purgeSpentChallenges } from './abuse/challenge';
import { purgeCounts } from './abuse/counters';
import { purgeAudit } from './audit-log';
import { getLiveConfig, syncCurrentMirror } from './config-store';
import { errorMessage, log } from './log';
import { purgeDays } from './mail/consumer';
import { purgeDeadLetters } from './mail/dead-letters';
import type { FanoutJob, MailJob, ReminderKind } from './mail/jobs';
import { enqueueJobs } from './mail/producer';
import { TOKEN_TTL_S } from './tokens';

export const CRON_REMINDERS = '*/5 * * * *';
export const CRON_HOURLY = '17 * * * *';

const HOUR = 3_600_000;
/** A fan-out that has not finished within this time is taken over by the next cron run. */
export const FANOUT_LEASE_MS = 10 * 60_000;
/** The replay mail goes out from 30 minutes after the end, for two weeks. */
const REPLAY_DELAY_MS = 30 * 60_000;
const REPLAY_WINDOW_MS = 14 * 24 * HOUR;
/**
 * Slices of the lead-id space, one `fanout` job each: 4096 = three hex digits. Lead ids
 * are HMACs, so at 500,000 confirmed leads a slice holds about 122 ids: one D1 query and
 * two `sendBatch` calls in the consumer, so even a consumer batch of 50 slices stays at
 * 150 subrequests (decision 041). The cron run itself makes 41 `sendBatch` calls.
 */
export const FANOUT_SLICES = 4096;
/** Sweep only leads older than this: younger ones may still be in the queue. */
export const SWEEP_MIN_AGE_MS = 15 * 60_000;
/** Confirmations re-enqueued per hourly run at most (20 `sendBatch` calls). */
export const SWEEP_LIMIT = 2000;
/** Leads deleted per purge batch (one D1 batch of five statements). */
export const PURGE_CHUNK = 5000;
/** Purge batches per run at most: 500 statements, half of D1's 1000 queries per invocation. */
export const PURGE_MAX_CHUNKS = 100;
/** Wall time a purge run may take before it leaves the rest to the next hour. */
export const PURGE_BUDGET_MS = 60_000;

/** Which reminder is due at `nowMs`, if any. */
export function dueReminder(
  startMs: number,
  endMs: number,
  hasReplay: boolean,
  nowMs: number,
): ReminderKind | null {
  if (nowMs >= startMs - HOUR && nowMs < startMs) return 'reminder1h';
  if (nowMs >= startMs - 24 * HOUR && nowMs < startMs - HOUR) return 'reminder24h';
  if (hasReplay && nowMs >= endMs + REPLAY_DELAY_MS && nowMs < endMs + REPLAY_WINDOW_MS) return 'replay';
  return null;
}

/** The `FANOUT_SLICES` slices as [idFrom, idTo) hex prefixes; the last one ends at `~`. */
export function fanoutSlices(count = FANOUT_SLICES): { idFrom: string; idTo: string }[] {
  let digits = 1;
  while (16 ** digits < count) digits += 1;
  const hex = (n: number) => n.toString(16).padStart(digits, '0');
  return Array.from({ length: count }, (_, i) => ({
    idFrom: hex(Math.floor((i * 16 ** digits) / count)),
    idTo: i === count - 1 ? '~' : hex(Math.floor(((i + 1) * 16 ** digits) / count)),
  }));
}

export interface FanoutStats {
  kind: ReminderKind | null;
  skipped?: 'not_due' | 'done' | 'running';
  /** D1 statements run (lease, done). */
  d1Queries: number;
  sendBatchCalls: number;
  /** `fanout` messages enqueued (one per slice). */
  messages: number;
}

/**
 * Takes the lease on (kind, start) if nobody holds it and it is not done: one upsert that
 * only succeeds on a new row or an expired lease, so of two overlapping cron runs exactly
 * one fans out.
 */
async function takeLease(
  db: D1Database,
  kind: ReminderKind,
  startMs: number,
  nowMs: number,
): Promise<'taken' | 'done' | 'running'> {
  const [won, state] = await db.batch<{ status: string }>([
    db
      .prepare(
        `INSERT INTO fanouts (kind, start_ms, status, lease_until, enqueued, updated_at)
         VALUES (?1, ?2, 'running', ?3, 0, ?4)
         ON CONFLICT (kind, start_ms) DO UPDATE SET lease_until = excluded.lease_until,
           updated_at = excluded.updated_at
         WHERE fanouts.status = 'running' AND fanouts.lease_until <= excluded.updated_at
         RETURNING status`,
      )
      .bind(kind, startMs, nowMs + FANOUT_LEASE_MS, nowMs),
    db.prepare('SELECT status FROM fanouts WHERE kind = ?1 AND start_ms = ?2').bind(kind, startMs),
  ]);
  if (won.results.length) return 'taken';
  return state.results[0]?.status === 'done' ? 'done' : 'running';
}

/** The 5-minute job: fan out the reminder that is due, once per (kind, webinar start). */
export async function fanOutReminders(env: Env, now: Date): Promise<FanoutStats> {
  const { config } = await getLiveConfig(env.CONTENT, now.getTime());
  const { startMs, endMs } = scheduleOf(config.webinar);
  const kind = dueReminder(startMs, endMs, !!config.webinar.replayUrl, now.getTime());
  const started = Date.now();
  const stats: FanoutStats = { kind, d1Queries: 0, sendBatchCalls: 0, messages: 0 };
  if (!kind) return { ...stats, skipped: 'not_due' };

  const lease = await takeLease(env.DB, kind, startMs, now.getTime());
  stats.d1Queries += 2;
  if (lease !== 'taken') return { ...stats, skipped: lease };

  const jobs: FanoutJob[] = fanoutSlices().map((slice) => ({
    type: 'fanout',
    kind,
    startMs,
    requestedAt: now.getTime(),
    ...slice,
  }));
  // A run that dies here leaves the lease to expire; the next run enqueues every slice
  // again and the consumer's once-only claims (mail_sends) keep each mail single.
  stats.sendBatchCalls = await enqueueJobs(env.MAIL_QUEUE, jobs);
  stats.messages = jobs.length;
  await env.DB.prepare(
    `UPDATE fanouts SET status = 'done', lease_until = 0, enqueued = ?3, updated_at = ?4
     WHERE kind = ?1 AND start_ms = ?2`,
  )
    .bind(kind, startMs, jobs.length, Date.now())
    .run();
  stats.d1Queries += 1;
  // Counted here so the bench (tests/bench/reminders.mjs) can read them from the log.
  log.info('reminders.fanned_out', {
    kind,
    d1Queries: stats.d1Queries,
    sendBatchCalls: stats.sendBatchCalls,
    messages: stats.messages,
    ms: Date.now() - started,
  });
  return stats;
}

/**
 * Pending leads without a confirmation claim (and without a dead letter, which ops sees)
 * get their confirmation enqueued again, in one bounded query. Only leads whose link
 * could still work (younger than the token lifetime) are considered.
 */
export async function sweepConfirmations(env: Env, now: Date): Promise<{ requeued: number }> {
  const oldest = now.getTime() - TOKEN_TTL_S.confirm * 1000;
  const youngest = now.getTime() - SWEEP_MIN_AGE_MS;
  const { results } = await env.DB.prepare(
    `SELECT id, created_at FROM leads
     WHERE status = 'pending' AND created_at >= ?1 AND created_at <= ?2
       AND NOT EXISTS (SELECT 1 FROM mail_sends s WHERE s.lead_id = leads.id AND s.kind = 'confirm')
       AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.lead_id = leads.id)
     LIMIT ?3`,
  )
    .bind(oldest, youngest, SWEEP_LIMIT)
    .all<{ id: string; created_at: number }>();
  // As asked for at registration, with its ref: a job of the registration still in the
  // queue and this one claim the same send, so the confirmation goes out once.
  const jobs: MailJob[] = results.map((r) => ({
    type: 'mail',
    kind: 'confirm',
    leadId: r.id,
    requestedAt: r.created_at,
    ref: 'new',
  }));
  if (jobs.length) {
    await enqueueJobs(env.MAIL_QUEUE, jobs);
    log.warn('reminders.confirmations_requeued', { count: jobs.length });
  }
  return { requeued: jobs.length };
}

export interface PurgeStats {
  purged: number;
  chunks: number;
  /** D1 statements run (five per chunk). */
  d1Queries: number;
  /** Set when the budget ran out before the last due lead was deleted. */
  more: boolean;
}

/**
 * Deletes leads never confirmed (`pending`, no `confirmed_at`) registered before
 * `cutoffMs`, with their consents, events, mail claims and dead letters: one batch (one
 * transaction) per chunk of PURGE_CHUNK leads, chosen by the same subquery in each
 * statement (the children first, so no statement sees a half-deleted chunk; D1 may not
 * enforce ON DELETE CASCADE). Loops until nothing due is left or the budget is spent.
 */
export async function purgeUnconfirmed(
  db: D1Database,
  cutoffMs: number,
  budget: { maxChunks?: number; budgetMs?: number; chunk?: number } = {},
): Promise<PurgeStats> {
  const maxChunks = budget.maxChunks ?? PURGE_MAX_CHUNKS;
  const chunk = budget.chunk ?? PURGE_CHUNK;
  const deadline = Date.now() + (budget.budgetMs ?? PURGE_BUDGET_MS);
  // Never confirmed, and no consent given since the cutoff: a repeat registration after
  // the retention period starts the clock again (its new consent keeps the lead).
  const due = `SELECT id FROM leads WHERE status = 'pending' AND confirmed_at IS NULL AND created_at < ?1
    AND NOT EXISTS (SELECT 1 FROM consents c WHERE c.lead_id = leads.id AND c.given_at >= ?1) LIMIT ?2`;
  const stats: PurgeStats = { purged: 0, chunks: 0, d1Queries: 0, more: false };
  for (;;) {
    if (stats.chunks >= maxChunks || Date.now() >= deadline) {
      stats.more = true;
      break;
    }
    const results = await db.batch([
      ...['consents', 'lead_events', 'mail_sends', 'dead_letters'].map((table) =>
        db.prepare(`DELETE FROM ${table} WHERE lead_id IN (${due})`).bind(cutoffMs, chunk),
      ),
      db.prepare(`DELETE FROM leads WHERE id IN (${due})`).bind(cutoffMs, chunk),
    ]);
    stats.chunks += 1;
    stats.d1Queries += results.length;
    const deleted = results[results.length - 1].meta.changes ?? 0;
    stats.purged += deleted;
    if (deleted < chunk) break;
  }
  if (stats.purged || stats.more) log.info('reminders.purged', { ...stats });
  return stats;
}

/** Dispatches one cron invocation. Each part runs even when another fails. */
export async function runScheduled(cron: string, env: Env, now: Date): Promise<void> {
  const parts: [string, () => Promise<unknown>][] = [];
  if (cron === CRON_REMINDERS || cron === '') {
    parts.push(['reminders', () => fanOutReminders(env, now)]);
    parts.push(['config-mirror', () => syncCurrentMirror(env.DB, env.CONTENT, now.getTime())]);
    parts.push(['attack-mode', () => evaluateAttackMode(env.DB, env, now.getTime())]);
  }
  if (cron === CRON_HOURLY || cron === '') {
    parts.push(['sweep', () => sweepConfirmations(env, now)]);
    parts.push(['purge', () => purgeUnconfirmed(env.DB, now.getTime() - purgeDays(env) * 86_400_000)]);
    parts.push(['audit', () => purgeAudit(env.DB, now.getTime())]);
    parts.push(['challenges', () => purgeSpentChallenges(env.DB, now.getTime())]);
    parts.push(['abuse-counts', () => purgeCounts(env.DB, now.getTime())]);
    parts.push(['dead-letters', () => purgeDeadLetters(env.DB, now.getTime())]);
  }
  if (!parts.length) log.warn('cron.unknown', { cron });
  const results = await Promise.allSettled(parts.map(([, run]) => run()));
  results.forEach((r, i) => {
    if (r.status === 'rejected')
      log.error('cron.failed', { part: parts[i][0], message: errorMessage(r.reason) });
  });
  if (results.some((r) => r.status === 'rejected')) throw new Error('a scheduled part failed; see the log');
}
