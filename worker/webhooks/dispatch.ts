/**
 * Moves webhook events from the D1 outbox to the `webinar-webhooks` queue: one delivery
 * row and one queue message per (event, target). Runs from the cron every minute and,
 * for lower latency, after every mail batch (worker/index.ts), never on the request path
 * of a visitor (docs/decisions/081-webhook-dispatch.md).
 *
 * Cron and mail consumer may run at once: a dispatcher first claims the events it takes
 * (a lease of CLAIM_MS), and a delivery row is unique per (event, target), so a second
 * dispatch of the same event after a crash re-sends the same `webhook-id`, which the
 * consumer (and the receiver) recognise.
 */
import * as v from 'valibot';
import type { BrevoSettings } from './connector-store';
import { BREVO, getBrevoSettings } from './connector-store';
import { CONNECTOR_EVENT_TYPES } from './outbox';
import { errorMessage, log } from '../log';

export const WEBHOOK_QUEUE_NAME = 'webinar-webhooks';
/** The cron expression of the every-minute dispatch (wrangler.toml). */
export const CRON_WEBHOOKS = '* * * * *';
export const WEBHOOK_DLQ_NAME = 'webinar-webhooks-dlq';
/** A dispatcher holds the events it took for this long. */
const CLAIM_MS = 60_000;
/** Events per run: well below the queue's 100 messages per `sendBatch` times a few calls. */
const DISPATCH_LIMIT = 200;
const SEND_BATCH_MAX = 100;
/** Dead letters (and their event payloads) are kept this long for a resend, then removed. */
export const DEAD_LETTER_RETENTION_MS = 30 * 86_400_000;
/** Finished deliveries stay in the history this long. */
export const DELIVERY_HISTORY_MS = 30 * 86_400_000;

/** The queue message: a delivery id, nothing personal. */
export const DeliveryMessage = v.object({
  delivery: v.pipe(
    v.string(),
    v.regex(/^msg_[0-9a-f]{24}_(?:[0-9a-f]{16}|brevo)$/, 'Unbekannte Zustellung.'),
  ),
});
export type DeliveryMessage = v.InferOutput<typeof DeliveryMessage>;

export type DispatchEnv = Pick<Env, 'DB' | 'WEBHOOK_QUEUE'> & { BREVO_API_KEY?: string };

interface ClaimedEvent {
  id: string;
  type: string;
  lead_id: string | null;
  only_target: string | null;
  payload: string;
}

/** The `webhook-id` of an event's delivery to a target: stable, no `.` (the spec's rule). */
export const deliveryId = (eventId: string, target: string) => `msg_${eventId.slice(4)}_${target.slice(-16)}`;

/** Whether a `lead.confirmed` payload carries a confirmed newsletter consent. */
function confirmsNewsletter(payload: string): boolean {
  try {
    const p = JSON.parse(payload) as { data?: { consents?: { kind?: string; status?: string }[] } };
    return (p.data?.consents ?? []).some((c) => c.kind === 'newsletter' && c.status === 'confirmed');
  } catch {
    return false;
  }
}

function brevoWants(
  e: ClaimedEvent,
  settings: BrevoSettings,
  apiKey: string | undefined,
  synced: Set<string>,
): boolean {
  if (!(CONNECTOR_EVENT_TYPES as readonly string[]).includes(e.type) || !e.lead_id) return false;
  // Only people who confirmed the newsletter are added, and only while the connector is on;
  // only those added are passed on later, even after it was switched off (a withdrawal or
  // an erasure must still reach Brevo; a missing key then shows as a dead letter).
  if (e.type === 'lead.confirmed')
    return settings.enabled && settings.listId !== null && !!apiKey && confirmsNewsletter(e.payload);
  return synced.has(e.lead_id);
}

/**
 * Dispatches up to DISPATCH_LIMIT undispatched events. Returns the number of queue
 * messages sent. Throws when D1 or the queue fails; the claimed events are then taken
 * again once their claim runs out.
 */
export async function dispatchOutbox(env: DispatchEnv, nowMs = Date.now()): Promise<number> {
  const db = env.DB;
  const [claimed, endpoints, contacts] = await db.batch<Record<string, unknown>>([
    db
      .prepare(
        `UPDATE webhook_events SET claim_until = ?1 + ${CLAIM_MS}
         WHERE id IN (SELECT id FROM webhook_events WHERE dispatched_at IS NULL AND claim_until <= ?1
                      ORDER BY at LIMIT ${DISPATCH_LIMIT})
         RETURNING id, type, lead_id, only_target, payload`,
      )
      .bind(nowMs),
    db.prepare('SELECT id, events FROM webhook_endpoints WHERE enabled = 1'),
    db
      .prepare(
        `SELECT lead_id FROM connector_contacts WHERE connector = ?1 AND lead_id IN (
           SELECT lead_id FROM webhook_events WHERE dispatched_at IS NULL AND lead_id IS NOT NULL)`,
      )
      .bind(BREVO),
  ]);
  const events = claimed.results as unknown as ClaimedEvent[];
  if (!events.length) return 0;
  const settings = await getBrevoSettings(db);
  const synced = new Set((contacts.results as { lead_id: string }[]).map((r) => r.lead_id));
  const subscribers = (endpoints.results as { id: string; events: string }[]).map((r) => ({
    id: r.id,
    events: new Set(JSON.parse(r.events) as string[]),
  }));

  const rows: { id: string; event_id: string; event_type: string; target: string }[] = [];
  for (const e of events) {
    const targets = e.only_target
      ? [e.only_target]
      : subscribers.filter((s) => s.events.has(e.type)).map((s) => s.id);
    if (brevoWants(e, settings, env.BREVO_API_KEY, synced)) targets.push(BREVO);
    for (const t of targets)
      rows.push({ id: deliveryId(e.id, t), event_id: e.id, event_type: e.type, target: t });
  }

  if (rows.length)
    await db
      .prepare(
        `INSERT OR IGNORE INTO webhook_deliveries (id, event_id, event_type, target, created_at, state, next_at)
         SELECT json_extract(value, '$.id'), json_extract(value, '$.event_id'), json_extract(value, '$.event_type'),
           json_extract(value, '$.target'), ?2, 'pending', ?2
         FROM json_each(?1)`,
      )
      .bind(JSON.stringify(rows), nowMs)
      .run();
  for (let i = 0; i < rows.length; i += SEND_BATCH_MAX)
    await env.WEBHOOK_QUEUE.sendBatch(
      rows
        .slice(i, i + SEND_BATCH_MAX)
        .map((r) => ({ body: { delivery: r.id } satisfies DeliveryMessage, contentType: 'json' })),
    );
  await db.batch([
    db
      .prepare('UPDATE webhook_events SET dispatched_at = ?2 WHERE id IN (SELECT value FROM json_each(?1))')
      .bind(JSON.stringify(events.map((e) => e.id)), nowMs),
    // An event nobody wanted after all (the endpoint went off meanwhile) leaves nothing behind.
    db
      .prepare(
        `DELETE FROM webhook_events WHERE id IN (SELECT value FROM json_each(?1)) AND NOT EXISTS (
           SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)`,
      )
      .bind(JSON.stringify(events.map((e) => e.id))),
  ]);
  log.info('webhooks.dispatched', { events: events.length, deliveries: rows.length });
  return rows.length;
}

/**
 * Removes what is no longer needed: events none of whose deliveries is pending or dead,
 * dead letters older than DEAD_LETTER_RETENTION_MS (with their events, e.g. the address
 * of a `lead.erased` nobody could deliver), and finished deliveries older than
 * DELIVERY_HISTORY_MS.
 */
export async function purgeWebhookData(db: D1Database, nowMs: number): Promise<void> {
  await db.batch([
    db
      .prepare(
        `UPDATE webhook_deliveries SET state = 'cancelled', last_error = 'Nach 30 Tagen verworfen.'
         WHERE state = 'dead' AND ended_at < ?1`,
      )
      .bind(nowMs - DEAD_LETTER_RETENTION_MS),
    db.prepare(
      `DELETE FROM webhook_events WHERE dispatched_at IS NOT NULL AND NOT EXISTS (
         SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id AND d.state IN ('pending', 'dead'))`,
    ),
    db
      .prepare(`DELETE FROM webhook_deliveries WHERE state IN ('delivered', 'cancelled') AND ended_at < ?1`)
      .bind(nowMs - DELIVERY_HISTORY_MS),
  ]);
}

/** The every-minute cron: dispatch, then tidy up. Never throws (the next minute tries again). */
export async function runWebhookCron(env: DispatchEnv, now: Date): Promise<void> {
  try {
    await dispatchOutbox(env, now.getTime());
    await purgeWebhookData(env.DB, now.getTime());
  } catch (error) {
    log.error('webhooks.cron_failed', { message: errorMessage(error) });
  }
}

/**
 * Dispatch after a mail batch (worker/index.ts): a registration or confirmation asks for a
 * mail, so its event is usually moved on within seconds instead of at the next minute.
 * Costs one D1 round trip when there is nothing to do. Never throws.
 */
export async function dispatchSoon(env: DispatchEnv): Promise<void> {
  try {
    await dispatchOutbox(env);
  } catch (error) {
    log.error('webhooks.dispatch_failed', { message: errorMessage(error) });
  }
}
