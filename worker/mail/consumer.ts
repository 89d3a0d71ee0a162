/**
 * Queue consumers: `webinar-mail` (send the mails) and `webinar-mail-dlq` (keep dead
 * letters in KV for ops).
 *
 * Once-only, whatever the retries (docs/decisions/044-mail-once-only.md): before sending
 * a mail the consumer reads the marker `sent:<kind>:<lead id>`; after sending it writes
 * the marker, and only then acknowledges the message. A redelivered or duplicated job finds
 * the marker and is acknowledged without a send. Jobs for the same (kind, lead) in one
 * batch are sent once. The remaining window (a crash between send and marker) can only
 * cause a duplicate, never a lost mail.
 *
 * Failures: a failing send is retried with exponential backoff (`message.retry({
 * delaySeconds })`); on the last attempt, and at once for a message that fails
 * validation, the consumer sends the job with its reason to the DLQ itself and
 * acknowledges it. (`dead_letter_queue` in wrangler.toml stays as the safety net for a
 * consumer that crashes; those letters arrive without a reason and are stored as such.)
 */
import * as v from 'valibot';
import { getLiveConfig } from '../config-store';
import {
  getLeads,
  getSentMarkers,
  markSent,
  sentKey,
  type LeadRecord,
  type LeadStatus,
  type SentMarker,
} from '../lead-store';
import { errorMessage, log } from '../log';
import { scheduleOf } from '../../src/lib/schedule';
import { composeMail } from './compose';
import { deadLetterKey, storeDeadLetter } from './dead-letters';
import {
  DeadLetter,
  describeIssues,
  MAIL_MAX_RETRIES,
  QueueJob,
  type FanoutJob,
  type MailJob,
  type MailKind,
} from './jobs';
import { enqueueJobs } from './producer';
import { sendMail, type SenderEnv } from './sender';

export const MAIL_QUEUE_NAME = 'webinar-mail';
export const MAIL_DLQ_NAME = 'webinar-mail-dlq';

/** A pending repeat registration gets a new confirmation mail at most this often. */
export const CONFIRM_RESEND_INTERVAL_MS = 10 * 60_000;
/** How many mails are sent at the same time within one batch. */
const SEND_CONCURRENCY = 6;

/** The bindings and vars the consumer needs (a subset of Env, so tests can swap EMAIL). */
export type MailEnv = SenderEnv & {
  CONTENT: KVNamespace;
  MAIL_QUEUE: Queue;
  MAIL_DLQ: Queue;
  MAIL_TOKEN_SECRET: string;
  PURGE_UNCONFIRMED_DAYS?: string;
};

/** Backoff for attempt n (1-based): 30 s, 2 min, 8 min, 32 min, then 1 h. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(30 * 4 ** Math.max(0, attempts - 1), 3600);
}

export function purgeDays(env: { PURGE_UNCONFIRMED_DAYS?: string }): number {
  const n = Number(env.PURGE_UNCONFIRMED_DAYS);
  return Number.isInteger(n) && n >= 1 && n <= 365 ? n : 30;
}

/** Which status a lead must have for each kind. */
const REQUIRED_STATUS: Record<MailKind, LeadStatus> = {
  confirm: 'pending',
  welcome: 'confirmed',
  reminder24h: 'confirmed',
  reminder1h: 'confirmed',
  replay: 'confirmed',
};

type Decision = { send: true } | { send: false; why: string };

/** Whether this job still needs its mail, given the lead, the marker and the config. */
export function decide(
  job: MailJob,
  lead: LeadRecord | null,
  marker: SentMarker | null,
  startMs: number,
  hasReplay: boolean,
  nowMs: number,
): Decision {
  if (!lead) return { send: false, why: 'lead_missing' };
  if (lead.status !== REQUIRED_STATUS[job.kind]) return { send: false, why: `status_${lead.status}` };
  switch (job.kind) {
    case 'confirm':
      if (marker && Date.parse(marker.at) >= job.requestedAt - CONFIRM_RESEND_INTERVAL_MS)
        return { send: false, why: 'already_sent' };
      return { send: true };
    case 'welcome':
      return marker ? { send: false, why: 'already_sent' } : { send: true };
    case 'reminder24h':
    case 'reminder1h':
      if (job.startMs !== startMs) return { send: false, why: 'rescheduled' };
      if (nowMs >= startMs) return { send: false, why: 'too_late' };
      return marker?.startMs === startMs ? { send: false, why: 'already_sent' } : { send: true };
    case 'replay':
      if (job.startMs !== startMs) return { send: false, why: 'rescheduled' };
      if (!hasReplay) return { send: false, why: 'no_replay' };
      return marker?.startMs === startMs ? { send: false, why: 'already_sent' } : { send: true };
  }
}

async function deadLetter(env: MailEnv, msg: Message<unknown>, reason: string): Promise<void> {
  const letter: DeadLetter = {
    deadLetter: 1,
    body: msg.body,
    reason: reason.slice(0, 500),
    attempts: msg.attempts,
    failedAt: new Date().toISOString(),
  };
  try {
    await env.MAIL_DLQ.send(letter, { contentType: 'json' });
    msg.ack();
  } catch (error) {
    // The DLQ is unreachable: let the platform retry, and dead-letter it itself at the end.
    log.error('mail.dlq_send_failed', { message: errorMessage(error) });
    msg.retry({ delaySeconds: retryDelaySeconds(msg.attempts) });
  }
}

async function failed(env: MailEnv, msg: Message<unknown>, reason: string): Promise<void> {
  if (msg.attempts > MAIL_MAX_RETRIES) {
    log.error('mail.dead_lettered', { reason: reason.slice(0, 200), attempts: msg.attempts });
    await deadLetter(env, msg, reason);
  } else {
    log.warn('mail.retry', { reason: reason.slice(0, 200), attempts: msg.attempts });
    msg.retry({ delaySeconds: retryDelaySeconds(msg.attempts) });
  }
}

/** Runs `fn` over items with at most `n` at a time. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let i = 0;
  const workers = Array.from({ length: Math.min(n, items.length) }, async () => {
    while (i < items.length) await fn(items[i++]);
  });
  await Promise.all(workers);
}

/** Turns fan-out jobs into single mail jobs (one `sendBatch` per 100 leads). */
async function expandFanouts(env: MailEnv, jobs: { msg: Message<unknown>; job: FanoutJob }[]) {
  for (const { msg, job } of jobs) {
    try {
      await enqueueJobs(
        env.MAIL_QUEUE,
        job.leadIds.map((leadId) => ({
          type: 'mail' as const,
          kind: job.kind,
          leadId,
          requestedAt: job.requestedAt,
          startMs: job.startMs,
        })),
      );
      msg.ack();
    } catch (error) {
      await failed(env, msg, `Verteilen fehlgeschlagen: ${errorMessage(error)}`);
    }
  }
}

/** The `webinar-mail` consumer. Never throws: every message is acked, retried or dead-lettered. */
export async function consumeMailBatch(
  batch: MessageBatch<unknown>,
  env: MailEnv,
  now = new Date(),
): Promise<void> {
  const mails: { msg: Message<unknown>; job: MailJob }[] = [];
  const fanouts: { msg: Message<unknown>; job: FanoutJob }[] = [];
  for (const msg of batch.messages) {
    const parsed = v.safeParse(QueueJob, msg.body);
    if (!parsed.success) {
      log.error('mail.invalid_job', { reason: describeIssues(parsed.issues).slice(0, 200) });
      await deadLetter(env, msg, `Ungültiger Auftrag: ${describeIssues(parsed.issues)}`);
      continue;
    }
    if (parsed.output.type === 'fanout') fanouts.push({ msg, job: parsed.output });
    else mails.push({ msg, job: parsed.output });
  }
  await expandFanouts(env, fanouts);
  if (!mails.length) return;

  let leads: Map<string, LeadRecord | null>;
  let markers: Map<string, SentMarker | null>;
  let config;
  try {
    [leads, markers, { config }] = await Promise.all([
      getLeads(env.LEADS, [...new Set(mails.map((m) => m.job.leadId))]),
      getSentMarkers(env.LEADS, [...new Set(mails.map((m) => sentKey(m.job.kind, m.job.leadId)))]),
      getLiveConfig(env.CONTENT),
    ]);
  } catch (error) {
    // KV is down: nothing was sent, so every job simply tries again later.
    for (const { msg } of mails) await failed(env, msg, `Speicher nicht erreichbar: ${errorMessage(error)}`);
    return;
  }
  const { startMs } = scheduleOf(config.webinar);

  // One send per (kind, lead), however often the job appears in this batch.
  const groups = new Map<string, { job: MailJob; msgs: Message<unknown>[] }>();
  for (const { msg, job } of mails) {
    const key = sentKey(job.kind, job.leadId);
    const g = groups.get(key);
    if (g) g.msgs.push(msg);
    else groups.set(key, { job, msgs: [msg] });
  }

  await pool([...groups.entries()], SEND_CONCURRENCY, async ([key, { job, msgs }]) => {
    const lead = leads.get(job.leadId) ?? null;
    const decision = decide(
      job,
      lead,
      markers.get(key) ?? null,
      startMs,
      !!config.webinar.replayUrl,
      now.getTime(),
    );
    if (!decision.send) {
      log.info('mail.skipped', { kind: job.kind, why: decision.why });
      for (const m of msgs) m.ack();
      return;
    }
    try {
      const mail = await composeMail(job.kind, lead!, config, {
        secret: env.MAIL_TOKEN_SECRET,
        base: job.origin ?? new URL(config.seo.siteUrl).origin,
        purgeDays: purgeDays(env),
        now,
      });
      await sendMail(env, mail, now);
    } catch (error) {
      for (const m of msgs) await failed(env, m, `Versand fehlgeschlagen: ${errorMessage(error)}`);
      return;
    }
    try {
      await markSent(env.LEADS, job.kind, job.leadId, {
        at: now.toISOString(),
        ...(job.kind.startsWith('reminder') || job.kind === 'replay' ? { startMs } : {}),
      });
    } catch (error) {
      // Sent, but not recorded: acknowledging now could resend on a redelivery that cannot
      // happen (acked), retrying would resend for sure. Ack and report.
      log.error('mail.mark_failed', { kind: job.kind, message: errorMessage(error) });
    }
    log.info('mail.sent', { kind: job.kind });
    for (const m of msgs) m.ack();
  });
}

/** The `webinar-mail-dlq` consumer: store every dead letter in KV (`dlq:`) for ops. */
export async function consumeDeadLetters(
  batch: MessageBatch<unknown>,
  env: { LEADS: KVNamespace },
): Promise<void> {
  for (const msg of batch.messages) {
    const ours = v.safeParse(DeadLetter, msg.body);
    const body = ours.success ? ours.output.body : msg.body;
    const parsedJob = v.safeParse(QueueJob, body);
    const kind = parsedJob.success ? parsedJob.output.kind : 'ungültig';
    const reason = ours.success
      ? ours.output.reason
      : 'Nach der letzten Wiederholung von der Warteschlange abgelegt (ohne Grund, z. B. Absturz des Verarbeiters).';
    try {
      await storeDeadLetter(env.LEADS, deadLetterKey(body, msg.id), body, {
        kind,
        reason,
        attempts: ours.success ? ours.output.attempts : msg.attempts,
        failedAt: ours.success ? ours.output.failedAt : new Date().toISOString(),
      });
      log.warn('mail.dead_letter_stored', { kind });
      msg.ack();
    } catch (error) {
      log.error('mail.dead_letter_store_failed', { message: errorMessage(error) });
      msg.retry({ delaySeconds: 60 });
    }
  }
}
