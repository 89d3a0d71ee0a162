/**
 * Queue consumers: `webinar-webhooks` (one attempt per message) and `webinar-webhooks-dlq`
 * (deliveries the platform gave up on). At-least-once and unordered, like the queue.
 *
 * Per message: lease the delivery in D1 (delivery-store.ts), send it (a signed POST to the
 * endpoint, or the Brevo call), record the attempt. A failure is retried by the queue with
 * backoff (`message.retry({ delaySeconds })`, RETRY_DELAYS_S, first retry within 30 s,
 * honouring `Retry-After`); after WEBHOOK_MAX_ATTEMPTS the delivery is dead-lettered in D1,
 * where ops see it and can send it again with the same `webhook-id`. A 410 from a receiver
 * switches its endpoint off with the reason (Standard Webhooks, "Delivery success and failure").
 */
import * as v from 'valibot';
import { syncToBrevo } from './brevo';
import { BREVO, getBrevoSettings } from './connector-store';
import type { Attempt } from './deliver';
import { postSigned } from './deliver';
import { leaseDelivery, markAbandoned, recordAttempt, type LeasedDelivery } from './delivery-store';
import { DeliveryMessage } from './dispatch';
import { endpointForDelivery, setEndpointEnabled } from './endpoint-store';
import { checkWebhookUrl } from './url-policy';
import { errorMessage, log } from '../log';

/** Attempts in all (the first one and the retries). */
export const WEBHOOK_MAX_ATTEMPTS = 9;
/** Wait before retry n (1-based): 15 s, 1 min, 5 min, 30 min, 2 h, 6 h, 12 h, 12 h (≈ 33 h in all). */
export const RETRY_DELAYS_S = [15, 60, 300, 1800, 7200, 21_600, 43_200, 43_200] as const;
/** The queue's longest delay. */
const MAX_DELAY_S = 43_200;
/** A duplicate message that finds the delivery being sent looks again after this. */
const BUSY_RETRY_S = 30;

export type ConsumerEnv = Pick<Env, 'DB' | 'ENVIRONMENT'> & { BREVO_API_KEY?: string };

/**
 * Delay before the next attempt after `failed` failed attempts: the schedule plus up to
 * 20 % jitter (so retries of many deliveries spread out), at least what `Retry-After` asked.
 */
export function retryDelaySeconds(
  failed: number,
  retryAfterS: number | null = null,
  random = Math.random(),
): number {
  const base = RETRY_DELAYS_S[Math.min(Math.max(failed, 1), RETRY_DELAYS_S.length) - 1];
  const jittered = Math.round(base * (1 + 0.2 * random));
  return Math.min(Math.max(jittered, retryAfterS ?? 0), MAX_DELAY_S);
}

type Verdict =
  | { kind: 'delivered'; attempt: Attempt }
  | { kind: 'retry'; attempt: Attempt; permanent?: boolean }
  | { kind: 'dead'; reason: string; attempt?: Attempt }
  | { kind: 'cancelled'; reason: string };

async function toEndpoint(env: ConsumerEnv, d: LeasedDelivery, payload: string, now: Date): Promise<Verdict> {
  const endpoint = await endpointForDelivery(env.DB, d.target, now.getTime());
  if (!endpoint) return { kind: 'cancelled', reason: 'Der Endpunkt wurde gelöscht.' };
  if (!endpoint.enabled)
    return { kind: 'dead', reason: 'Der Endpunkt ist ausgeschaltet. Nach dem Einschalten erneut senden.' };
  const url = checkWebhookUrl(endpoint.url, { allowLoopback: env.ENVIRONMENT === 'development' });
  if (!url.ok) return { kind: 'dead', reason: url.message };
  const attempt = await postSigned(url.url, payload, { id: d.id, secrets: endpoint.secrets }, { now });
  if (attempt.status !== null && attempt.status >= 200 && attempt.status < 300)
    return { kind: 'delivered', attempt };
  if (attempt.status === 410) {
    await setEndpointEnabled(env.DB, endpoint.id, false, {
      reason: `Automatisch ausgeschaltet: Der Empfänger hat am ${now.toISOString().slice(0, 16).replace('T', ' ')} UTC mit 410 Gone geantwortet.`,
      nowMs: now.getTime(),
    });
    log.warn('webhooks.endpoint_gone', { endpoint: endpoint.id });
    return { kind: 'dead', reason: attempt.error ?? 'Gone', attempt };
  }
  return { kind: 'retry', attempt };
}

async function toBrevo(
  env: ConsumerEnv,
  event: { type: string; payload: string },
  now: Date,
): Promise<Verdict> {
  const settings = await getBrevoSettings(env.DB);
  if (!env.BREVO_API_KEY)
    return { kind: 'dead', reason: 'BREVO_API_KEY fehlt. Nach dem Setzen des Schlüssels erneut senden.' };
  // Switched off stops new contacts; withdrawals and erasures still go through.
  if (!settings.enabled && event.type === 'lead.confirmed')
    return {
      kind: 'dead',
      reason: 'Der Brevo-Connector ist ausgeschaltet. Nach dem Einschalten erneut senden.',
    };
  const r = await syncToBrevo(env.DB, env.BREVO_API_KEY, settings, event, now.getTime());
  if (r.kind === 'skipped') return { kind: 'cancelled', reason: r.reason };
  if (r.kind === 'done') return { kind: 'delivered', attempt: r.attempt };
  return { kind: 'retry', attempt: r.attempt, permanent: r.permanent };
}

async function handle(env: ConsumerEnv, msg: Message<unknown>, now: Date): Promise<void> {
  const parsed = v.safeParse(DeliveryMessage, msg.body);
  if (!parsed.success) {
    // Nothing to record it against: a hand-sent or foreign message.
    log.error('webhooks.invalid_message', { reason: parsed.issues[0].message });
    return msg.ack();
  }
  const lease = await leaseDelivery(env.DB, parsed.output.delivery, now.getTime());
  if (lease.kind === 'finished') return msg.ack();
  if (lease.kind === 'busy') return msg.retry({ delaySeconds: BUSY_RETRY_S });
  const { delivery: d, event } = lease;
  const nowMs = now.getTime();

  let verdict: Verdict;
  if (!event)
    verdict = { kind: 'cancelled', reason: 'Das Ereignis gibt es nicht mehr (z. B. nach einer Löschung).' };
  else if (d.target === BREVO) verdict = await toBrevo(env, event, now);
  else verdict = await toEndpoint(env, d, event.payload, now);

  const seen = 'attempt' in verdict && verdict.attempt ? verdict.attempt : null;
  const facts = seen ? { status: seen.status, latencyMs: seen.latencyMs, excerpt: seen.excerpt } : {};
  switch (verdict.kind) {
    case 'delivered':
      await recordAttempt(env.DB, d, { state: 'delivered', ...facts }, nowMs);
      log.info('webhooks.delivered', { type: d.eventType, attempts: d.attempts, status: seen?.status ?? 0 });
      return msg.ack();
    case 'cancelled':
      await recordAttempt(env.DB, d, { state: 'cancelled', error: verdict.reason }, nowMs);
      return msg.ack();
    case 'dead':
      await recordAttempt(env.DB, d, { state: 'dead', ...facts, error: verdict.reason }, nowMs);
      log.warn('webhooks.dead_lettered', { type: d.eventType, attempts: d.attempts });
      return msg.ack();
    case 'retry': {
      const last = verdict.permanent || d.attempts >= WEBHOOK_MAX_ATTEMPTS;
      if (last) {
        await recordAttempt(env.DB, d, { state: 'dead', ...facts, error: verdict.attempt.error }, nowMs);
        log.warn('webhooks.dead_lettered', {
          type: d.eventType,
          attempts: d.attempts,
          status: seen?.status ?? 0,
        });
        return msg.ack();
      }
      const delay = retryDelaySeconds(d.attempts, verdict.attempt.retryAfterS);
      await recordAttempt(
        env.DB,
        d,
        { state: 'pending', ...facts, error: verdict.attempt.error, nextAtMs: nowMs + delay * 1000 },
        nowMs,
      );
      log.warn('webhooks.retry', {
        type: d.eventType,
        attempts: d.attempts,
        status: seen?.status ?? 0,
        delay,
      });
      return msg.retry({ delaySeconds: delay });
    }
  }
}

/** The `webinar-webhooks` consumer. Never throws: every message is acked or retried. */
export async function consumeWebhookBatch(
  batch: MessageBatch<unknown>,
  env: ConsumerEnv,
  now: () => Date = () => new Date(),
): Promise<void> {
  // One at a time: a batch holds at most 10, and each attempt has its own 10 s limit.
  for (const msg of batch.messages) {
    try {
      await handle(env, msg, now());
    } catch (error) {
      // D1 unreachable: nothing was recorded; the lease (if any) runs out by itself.
      log.error('webhooks.consume_failed', { message: errorMessage(error) });
      msg.retry({ delaySeconds: retryDelaySeconds(msg.attempts) });
    }
  }
}

/** The `webinar-webhooks-dlq` consumer: the deliveries in it end as dead letters in D1. */
export async function consumeWebhookDeadLetters(
  batch: MessageBatch<unknown>,
  env: ConsumerEnv,
): Promise<void> {
  for (const msg of batch.messages) {
    const parsed = v.safeParse(DeliveryMessage, msg.body);
    try {
      if (parsed.success) await markAbandoned(env.DB, parsed.output.delivery, Date.now());
      msg.ack();
    } catch (error) {
      log.error('webhooks.dlq_store_failed', { message: errorMessage(error) });
      msg.retry({ delaySeconds: 60 });
    }
  }
}
