/**
 * Cron work (wrangler.toml `[triggers] crons`), dispatched on the cron expression:
 *
 * - every 5 minutes, `fanOutReminders`: when a reminder is due (24 h before the start,
 *   1 h before, the replay after the end when the config has a replay link) it pages
 *   through KV `list` (metadata only: status is in it) and enqueues one `fanout` job per
 *   100 confirmed leads with `sendBatch`. The consumer expands them into single mail jobs.
 *   A state key `fanout:<kind>:<start>` makes it run once per webinar date, with a lease
 *   against overlapping cron runs and a cursor checkpoint to resume after a crash.
 *   The arithmetic for 100,000 leads is in docs/decisions/041-reminder-fanout.md.
 * - hourly, `sweepConfirmations` re-enqueues the confirmation for pending leads that never
 *   got one (the enqueue at registration failed), and `purgeUnconfirmed` deletes pending
 *   leads older than PURGE_UNCONFIRMED_DAYS.
 */
import { scheduleOf } from '../src/lib/schedule';
import { getLiveConfig } from './config-store';
import { getSentMarkers, LEAD_PREFIX, purgeUnconfirmed, sentKey, type LeadMetadata } from './lead-store';
import { errorMessage, log } from './log';
import { purgeDays } from './mail/consumer';
import { DLQ_PREFIX } from './mail/dead-letters';
import type { FanoutJob, MailJob, ReminderKind } from './mail/jobs';
import { enqueueJobs } from './mail/producer';
import { TOKEN_TTL_S } from './tokens';

export const CRON_REMINDERS = '*/5 * * * *';
export const CRON_HOURLY = '17 * * * *';

export const FANOUT_PREFIX = 'fanout:';
const HOUR = 3_600_000;
/** A fan-out that has not finished within this time is taken over by the next cron run. */
const FANOUT_LEASE_MS = 10 * 60_000;
/** The replay mail goes out from 30 minutes after the end, for two weeks. */
const REPLAY_DELAY_MS = 30 * 60_000;
const REPLAY_WINDOW_MS = 14 * 24 * HOUR;
/** Sweep only leads older than this: younger ones may still be in the queue. */
const SWEEP_MIN_AGE_MS = 15 * 60_000;
/** Bounded work per hourly run (KV allows 1000 operations per invocation). */
const SWEEP_MAX_CANDIDATES = 2000;
const PURGE_MAX_DELETES = 200;

export type ScheduledEnv = Pick<Env, 'LEADS' | 'CONTENT' | 'MAIL_QUEUE'> & {
  PURGE_UNCONFIRMED_DAYS?: string;
};

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

interface FanoutState {
  status: 'running' | 'done';
  leaseUntil: number;
  cursor?: string;
  enqueued: number;
  at: string;
}

export interface FanoutStats {
  kind: ReminderKind | null;
  skipped?: 'not_due' | 'done' | 'running';
  listCalls: number;
  sendBatchCalls: number;
  /** Fan-out messages enqueued (one per ≤ 100 leads). */
  messages: number;
  kvWrites: number;
  leads: number;
}

/** The 5-minute job: fan out the reminder that is due, once per webinar date. */
export async function fanOutReminders(env: ScheduledEnv, now: Date): Promise<FanoutStats> {
  const { config } = await getLiveConfig(env.CONTENT, now.getTime());
  const { startMs, endMs } = scheduleOf(config.webinar);
  const kind = dueReminder(startMs, endMs, !!config.webinar.replayUrl, now.getTime());
  const started = Date.now();
  const stats: FanoutStats = { kind, listCalls: 0, sendBatchCalls: 0, messages: 0, kvWrites: 0, leads: 0 };
  if (!kind) return { ...stats, skipped: 'not_due' };

  const stateKey = `${FANOUT_PREFIX}${kind}:${startMs}`;
  const state = await env.LEADS.get<FanoutState>(stateKey, 'json');
  if (state?.status === 'done') return { ...stats, skipped: 'done' };
  if (state?.status === 'running' && state.leaseUntil > now.getTime())
    return { ...stats, skipped: 'running' };

  let cursor = state?.cursor;
  let enqueued = state?.enqueued ?? 0;
  const write = async (s: Omit<FanoutState, 'at'>) => {
    await env.LEADS.put(stateKey, JSON.stringify({ ...s, at: new Date().toISOString() }), {
      expirationTtl: 30 * 86_400,
    });
    stats.kvWrites += 1;
    lastWrite = Date.now();
  };
  let lastWrite = 0;
  await write({ status: 'running', leaseUntil: now.getTime() + FANOUT_LEASE_MS, cursor, enqueued });

  for (;;) {
    const page: KVNamespaceListResult<LeadMetadata> = await env.LEADS.list<LeadMetadata>({
      prefix: LEAD_PREFIX,
      limit: 1000,
      ...(cursor ? { cursor } : {}),
    });
    stats.listCalls += 1;
    const ids = page.keys
      .filter((k) => k.metadata?.s === 'confirmed')
      .map((k) => k.name.slice(LEAD_PREFIX.length));
    const jobs: FanoutJob[] = [];
    for (let i = 0; i < ids.length; i += 100)
      jobs.push({
        type: 'fanout',
        kind,
        startMs,
        requestedAt: now.getTime(),
        leadIds: ids.slice(i, i + 100),
      });
    stats.sendBatchCalls += await enqueueJobs(env.MAIL_QUEUE, jobs);
    stats.leads += ids.length;
    stats.messages += jobs.length;
    enqueued += ids.length;
    cursor = page.list_complete ? undefined : page.cursor;
    if (!cursor) break;
    // Checkpoint now and then (KV allows one write per second per key): a crashed run is
    // resumed from here; the pages since are enqueued twice and deduplicated by the consumer.
    if (Date.now() - lastWrite > 2000)
      await write({ status: 'running', leaseUntil: Date.now() + FANOUT_LEASE_MS, cursor, enqueued });
  }
  const workMs = Date.now() - started;
  if (Date.now() - lastWrite < 1100) await new Promise((r) => setTimeout(r, 1100 - (Date.now() - lastWrite)));
  await write({ status: 'done', leaseUntil: 0, enqueued });
  // Counted here so the bench (tests/bench/reminders.mjs) can read them from the log.
  log.info('reminders.fanned_out', {
    kind,
    leads: stats.leads,
    listCalls: stats.listCalls,
    kvGets: 1,
    kvWrites: stats.kvWrites,
    sendBatchCalls: stats.sendBatchCalls,
    messages: stats.messages,
    workMs,
    ms: Date.now() - started,
  });
  return stats;
}

/**
 * Pending leads without a confirmation marker (and without a dead letter, which ops sees)
 * get their confirmation enqueued again. Only leads whose confirmation link could still
 * work (younger than the token lifetime) are considered.
 */
export async function sweepConfirmations(env: ScheduledEnv, now: Date): Promise<{ requeued: number }> {
  const oldest = now.getTime() - TOKEN_TTL_S.confirm * 1000;
  const youngest = now.getTime() - SWEEP_MIN_AGE_MS;
  const candidates: { id: string; createdMs: number }[] = [];
  let cursor: string | undefined;
  do {
    const page: KVNamespaceListResult<LeadMetadata> = await env.LEADS.list<LeadMetadata>({
      prefix: LEAD_PREFIX,
      limit: 1000,
      ...(cursor ? { cursor } : {}),
    });
    for (const k of page.keys) {
      const c = Date.parse(k.metadata?.c ?? '');
      if (k.metadata?.s === 'pending' && c >= oldest && c <= youngest)
        candidates.push({ id: k.name.slice(LEAD_PREFIX.length), createdMs: c });
    }
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor && candidates.length < SWEEP_MAX_CANDIDATES);

  const chosen = candidates.slice(0, SWEEP_MAX_CANDIDATES);
  const markers = await getSentMarkers(
    env.LEADS,
    chosen.map((c) => sentKey('confirm', c.id)),
  );
  const dead = await getSentMarkers(
    env.LEADS,
    chosen.map((c) => `${DLQ_PREFIX}confirm:${c.id}`),
  );
  const jobs: MailJob[] = chosen
    .filter((c) => !markers.get(sentKey('confirm', c.id)) && !dead.get(`${DLQ_PREFIX}confirm:${c.id}`))
    .map((c) => ({
      type: 'mail',
      kind: 'confirm',
      leadId: c.id,
      // As if asked for at registration: a confirmation sent since (by a job that was still
      // in the queue) makes the consumer skip this one.
      requestedAt: c.createdMs,
    }));
  if (jobs.length) await enqueueJobs(env.MAIL_QUEUE, jobs);
  if (jobs.length) log.warn('reminders.confirmations_requeued', { count: jobs.length });
  return { requeued: jobs.length };
}

/** Dispatches one cron invocation. Each part runs even when another fails. */
export async function runScheduled(cron: string, env: ScheduledEnv, now: Date): Promise<void> {
  const parts: [string, () => Promise<unknown>][] = [];
  if (cron === CRON_REMINDERS || cron === '') parts.push(['reminders', () => fanOutReminders(env, now)]);
  if (cron === CRON_HOURLY || cron === '') {
    parts.push(['sweep', () => sweepConfirmations(env, now)]);
    parts.push([
      'purge',
      () => purgeUnconfirmed(env.LEADS, now.getTime() - purgeDays(env) * 86_400_000, PURGE_MAX_DELETES),
    ]);
  }
  if (!parts.length) log.warn('cron.unknown', { cron });
  const results = await Promise.allSettled(parts.map(([, run]) => run()));
  results.forEach((r, i) => {
    if (r.status === 'rejected')
      log.error('cron.failed', { part: parts[i][0], message: errorMessage(r.reason) });
  });
  if (results.some((r) => r.status === 'rejected')) throw new Error('a scheduled part failed; see the log');
}
