/**
 * Queue consumers: `webinar-mail` (send the mails) and `webinar-mail-dlq` (keep dead
 * letters in D1 for ops).
 *
 * Once-only, whatever the retries and however many consumers run at once
 * (docs/decisions/044-mail-once-only.md): before a mail goes out the consumer claims
 * (lead, kind, ref) in D1 (worker/store/mail-sends.ts). Exactly one claim wins; a
 * duplicate that finds the mail sent is acknowledged, one that finds it claimed but not yet
 * sent is retried later (the holder may die before sending). A message is acknowledged
 * only when its mail went out, or was skipped on purpose (lead erased, unsubscribed,
 * nothing left to confirm, webinar rescheduled).
 *
 * Failures: a failing send gives its claim back and is retried with exponential backoff
 * (`message.retry({ delaySeconds })`); on the last attempt, and at once for a message that
 * fails validation, the consumer sends the job with its reason to the DLQ itself and
 * acknowledges it. (`dead_letter_queue` in wrangler.toml stays as the safety net for a
 * consumer that crashes; those letters arrive without a reason and are stored as such.)
 */
import * as v from 'valibot';
import { getLiveConfig } from '../config-store';
import { getLeads, type Lead } from '../store/lead-store';
import { claimSend, markSent, releaseClaim, type SendKey } from '../store/mail-sends';
import { confirmationBudget, PACE_DELAY_S } from '../abuse/mail-budget';
import { count } from '../abuse/counters';
import { errorMessage, log } from '../log';
import { scheduleOf } from '../../src/lib/schedule';
import { composeMail } from './compose';
import { deadLetterKey, storeDeadLetter } from './dead-letters';
import { DeadLetter, describeIssues, MAIL_MAX_RETRIES, QueueJob, type FanoutJob, type MailJob } from './jobs';
import { enqueueJob, enqueueJobs } from './producer';
import { sendMail } from './sender';

export const MAIL_DLQ_NAME = 'webinar-mail-dlq';

/** How many mails are sent at the same time within one batch. */
const SEND_CONCURRENCY = 6;
/** A duplicate that finds the send claimed by another consumer looks again after this. */
const BUSY_RETRY_S = 60;

/** Backoff for attempt n (1-based): 30 s, 2 min, 8 min, 32 min, then 1 h. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(30 * 4 ** Math.max(0, attempts - 1), 3600);
}

export function purgeDays(env: { PURGE_UNCONFIRMED_DAYS?: string }): number {
  const n = Number(env.PURGE_UNCONFIRMED_DAYS);
  return Number.isInteger(n) && n >= 1 && n <= 365 ? n : 30;
}

type Decision = { send: true } | { send: false; why: string };

/** Which send of its kind a job is: the claim key's `ref` (worker/store/mail-sends.ts). */
export function sendRef(job: MailJob, startMs: number): string {
  if (job.kind === 'confirm' || job.kind === 'welcome') return job.ref ?? 'new';
  return String(job.startMs ?? startMs);
}

/** Whether this job still needs its mail, given the lead as it is now and the config. */
export function decide(
  job: MailJob,
  lead: Lead | null,
  startMs: number,
  hasReplay: boolean,
  nowMs: number,
): Decision {
  if (!lead) return { send: false, why: 'lead_missing' };
  if (job.kind === 'confirm')
    return lead.consents.some((c) => c.status === 'pending')
      ? { send: true }
      : { send: false, why: 'nothing_pending' };
  if (lead.status !== 'confirmed') return { send: false, why: `status_${lead.status}` };
  switch (job.kind) {
    case 'welcome':
      return { send: true };
    case 'reminder24h':
    case 'reminder1h':
      if (job.startMs !== startMs) return { send: false, why: 'rescheduled' };
      if (nowMs >= startMs) return { send: false, why: 'too_late' };
      return { send: true };
    case 'replay':
      if (job.startMs !== startMs) return { send: false, why: 'rescheduled' };
      if (!hasReplay) return { send: false, why: 'no_replay' };
      return { send: true };
  }
}

async function deadLetter(env: Env, msg: Message<unknown>, reason: string): Promise<void> {
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

async function failed(env: Env, msg: Message<unknown>, reason: string): Promise<void> {
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

/** Confirmed leads of one slice of the id space (see FanoutJob). */
async function confirmedIdsInSlice(db: D1Database, job: FanoutJob): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT id FROM leads WHERE status = 'confirmed' AND id >= ?1 AND (?2 = '~' OR id < ?2) ORDER BY id`,
    )
    .bind(job.idFrom, job.idTo)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

/** Turns fan-out slices into single mail jobs (one `sendBatch` per 100 leads). */
async function expandFanouts(env: Env, jobs: { msg: Message<unknown>; job: FanoutJob }[]) {
  for (const { msg, job } of jobs) {
    try {
      const ids = await confirmedIdsInSlice(env.DB, job);
      await enqueueJobs(
        env.MAIL_QUEUE,
        ids.map((leadId) => ({
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

/** Sends one (kind, lead, ref) group under its claim; acks, retries or dead-letters its messages. */
async function sendClaimed(
  env: Env,
  key: SendKey,
  job: MailJob,
  lead: Lead,
  msgs: Message<unknown>[],
  config: Awaited<ReturnType<typeof getLiveConfig>>['config'],
  now: Date,
): Promise<void> {
  const budget = job.kind === 'confirm' ? confirmationBudget(lead, env) : undefined;
  const claim = await claimSend(env.DB, key, now.getTime(), budget);
  if (claim === 'gone') {
    log.info('mail.skipped', { kind: job.kind, why: 'lead_missing' });
    for (const m of msgs) m.ack();
    return;
  }
  if (claim === 'over_address') {
    // Three confirmations in 24 hours are enough for any person; more is list bombing.
    log.info('mail.skipped', { kind: job.kind, why: 'address_budget' });
    for (const m of msgs) m.ack();
    return;
  }
  if (claim === 'over_domain' || claim === 'over_global') {
    // Paced, never dropped: the same job again after a pause, as a new message so the
    // pause does not use up its retries.
    await enqueueJob(env.MAIL_QUEUE, job, PACE_DELAY_S);
    log.info('mail.paced', { kind: job.kind, why: claim });
    await count(env.DB, 'mail:paced', now.getTime(), msgs.length);
    for (const m of msgs) m.ack();
    return;
  }
  if (claim === 'sent') {
    log.info('mail.skipped', { kind: job.kind, why: 'already_sent' });
    for (const m of msgs) m.ack();
    return;
  }
  if (claim === 'busy') {
    for (const m of msgs) m.retry({ delaySeconds: BUSY_RETRY_S });
    return;
  }
  try {
    const mail = await composeMail(job.kind, lead, config, {
      secret: env.MAIL_TOKEN_SECRET,
      base: job.origin ?? new URL(config.seo.siteUrl).origin,
      purgeDays: purgeDays(env),
      now,
    });
    await sendMail(env, mail, now);
  } catch (error) {
    await releaseClaim(env.DB, key).catch(() => undefined);
    for (const m of msgs) await failed(env, m, `Versand fehlgeschlagen: ${errorMessage(error)}`);
    return;
  }
  try {
    await markSent(env.DB, key, now.getTime());
  } catch (error) {
    // Sent, and still claimed: the claim blocks duplicates for its lease. Ack and report.
    log.error('mail.mark_failed', { kind: job.kind, message: errorMessage(error) });
  }
  log.info('mail.sent', { kind: job.kind });
  if (job.kind === 'confirm') await count(env.DB, 'mail:sent', now.getTime());
  for (const m of msgs) m.ack();
}

/** The `webinar-mail` consumer. Never throws: every message is acked, retried or dead-lettered. */
export async function consumeMailBatch(
  batch: MessageBatch<unknown>,
  env: Env,
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

  let leads: Map<string, Lead>;
  let config;
  try {
    [leads, { config }] = await Promise.all([
      getLeads(
        env.DB,
        mails.map((m) => m.job.leadId),
      ),
      getLiveConfig(env.CONTENT),
    ]);
  } catch (error) {
    // D1 is unreachable: nothing was sent, so every job simply tries again later.
    for (const { msg } of mails) await failed(env, msg, `Speicher nicht erreichbar: ${errorMessage(error)}`);
    return;
  }
  const { startMs } = scheduleOf(config.webinar);

  // One send per (kind, lead, ref), however often the job appears in this batch.
  const groups = new Map<string, { key: SendKey; job: MailJob; msgs: Message<unknown>[] }>();
  for (const { msg, job } of mails) {
    const key: SendKey = { leadId: job.leadId, kind: job.kind, ref: sendRef(job, startMs) };
    const id = `${key.kind}:${key.leadId}:${key.ref}`;
    const g = groups.get(id);
    if (g) g.msgs.push(msg);
    else groups.set(id, { key, job, msgs: [msg] });
  }

  await pool([...groups.values()], SEND_CONCURRENCY, async ({ key, job, msgs }) => {
    const lead = leads.get(job.leadId) ?? null;
    const decision = decide(job, lead, startMs, !!config.webinar.replayUrl, now.getTime());
    if (!decision.send) {
      log.info('mail.skipped', { kind: job.kind, why: decision.why });
      for (const m of msgs) m.ack();
      return;
    }
    try {
      await sendClaimed(env, key, job, lead!, msgs, config, now);
    } catch (error) {
      // The claim itself failed (D1 unreachable): nothing was sent.
      for (const m of msgs) await failed(env, m, `Speicher nicht erreichbar: ${errorMessage(error)}`);
    }
  });
}

/** The `webinar-mail-dlq` consumer: store every dead letter in D1 for ops. */
export async function consumeDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  for (const msg of batch.messages) {
    const ours = v.safeParse(DeadLetter, msg.body);
    const body = ours.success ? ours.output.body : msg.body;
    const parsedJob = v.safeParse(QueueJob, body);
    const kind = parsedJob.success ? parsedJob.output.kind : 'ungültig';
    const reason = ours.success
      ? ours.output.reason
      : 'Nach der letzten Wiederholung von der Warteschlange abgelegt (ohne Grund, z. B. Absturz des Verarbeiters).';
    try {
      await storeDeadLetter(env.DB, deadLetterKey(body, msg.id), body, {
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
