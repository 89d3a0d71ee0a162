/**
 * Webhook endpoints and what ops see of their deliveries (tables in
 * migrations/0002_webhooks.sql). No Hono here: tested straight against D1.
 *
 * The signing secret is written when an endpoint is created or its secret rotated and
 * returned to the caller that one time; no read in this module selects it except
 * `endpointForDelivery`, which the consumer needs to sign.
 */
import type { DeliveryState, DeliveryView, EndpointView, WebhookEventType } from '../../src/lib/webhooks';
import { randomBase64, randomHex } from '../crypto';

/** After a rotation the old secret keeps signing for this long (Standard Webhooks rotation). */
export const ROTATION_GRACE_MS = 24 * 3_600_000;
/** Deliveries shown per endpoint in the overview. */
export const RECENT_DELIVERIES = 20;
/** 32 random bytes: the spec asks for 24 to 64. */
const SECRET_BYTES = 32;

export const newSecret = () => `whsec_${randomBase64(SECRET_BYTES)}`;

interface DeliveryRow {
  id: string;
  event_type: string;
  target: string;
  created_at: number;
  state: DeliveryState;
  attempts: number;
  last_at: number | null;
  last_status: number | null;
  last_error: string | null;
  latency_ms: number | null;
  excerpt: string | null;
  next_at: number | null;
}

interface EndpointRow {
  id: string;
  url: string;
  events: string;
  enabled: number;
  disabled_reason: string | null;
  created_at: number;
  previous_until: number | null;
}

const isoOrNull = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const DELIVERY_COLUMNS = `id, event_type, target, created_at, state, attempts, last_at, last_status, last_error,
  latency_ms, excerpt, next_at`;

export function toDeliveryView(r: DeliveryRow): DeliveryView {
  return {
    id: r.id,
    eventType: r.event_type,
    target: r.target,
    createdAt: new Date(r.created_at).toISOString(),
    state: r.state,
    attempts: r.attempts,
    lastAt: isoOrNull(r.last_at),
    lastStatus: r.last_status,
    lastError: r.last_error,
    latencyMs: r.latency_ms,
    excerpt: r.excerpt,
    nextAt: r.state === 'pending' ? isoOrNull(r.next_at) : null,
  };
}

/** Creates an endpoint; the secret in the answer is the only time it is shown. */
export async function createEndpoint(
  db: D1Database,
  input: { url: string; events: WebhookEventType[]; by: string; nowMs: number },
): Promise<{ id: string; secret: string }> {
  const id = `ep_${randomHex(8)}`;
  const secret = newSecret();
  await db
    .prepare(
      `INSERT INTO webhook_endpoints (id, url, events, secret, enabled, created_at, created_by, updated_at)
       VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?5)`,
    )
    .bind(id, input.url, JSON.stringify(input.events), secret, input.nowMs, input.by.slice(0, 254))
    .run();
  return { id, secret };
}

/** Every endpoint with its latest deliveries, newest first; never a secret. */
export async function listEndpoints(db: D1Database): Promise<EndpointView[]> {
  const [endpoints, deliveries] = await db.batch<Record<string, unknown>>([
    db.prepare(
      `SELECT id, url, events, enabled, disabled_reason, created_at, previous_until
       FROM webhook_endpoints ORDER BY created_at DESC, id`,
    ),
    // The latest N per endpoint in one query, whatever the number of endpoints.
    db.prepare(
      `SELECT ${DELIVERY_COLUMNS} FROM (
         SELECT *, ROW_NUMBER() OVER (PARTITION BY target ORDER BY created_at DESC, id) AS n
         FROM webhook_deliveries WHERE target <> 'brevo')
       WHERE n <= ${RECENT_DELIVERIES} ORDER BY created_at DESC, id`,
    ),
  ]);
  const byTarget = new Map<string, DeliveryView[]>();
  for (const r of deliveries.results as unknown as DeliveryRow[]) {
    const list = byTarget.get(r.target) ?? [];
    list.push(toDeliveryView(r));
    byTarget.set(r.target, list);
  }
  const now = Date.now();
  return (endpoints.results as unknown as EndpointRow[]).map((r) => ({
    id: r.id,
    url: r.url,
    events: JSON.parse(r.events) as WebhookEventType[],
    enabled: r.enabled === 1,
    disabledReason: r.disabled_reason,
    createdAt: new Date(r.created_at).toISOString(),
    previousSecretUntil:
      r.previous_until !== null && r.previous_until > now ? isoOrNull(r.previous_until) : null,
    deliveries: byTarget.get(r.id) ?? [],
  }));
}

/** Latest deliveries of one target (an endpoint id or 'brevo'). */
export async function recentDeliveries(db: D1Database, target: string): Promise<DeliveryView[]> {
  const { results } = await db
    .prepare(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE target = ?1
       ORDER BY created_at DESC, id LIMIT ${RECENT_DELIVERIES}`,
    )
    .bind(target)
    .all<DeliveryRow>();
  return results.map(toDeliveryView);
}

/** Dead-lettered deliveries of every target, newest first (at most 200). */
export async function listDeadLetters(db: D1Database): Promise<DeliveryView[]> {
  const { results } = await db
    .prepare(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE state = 'dead'
       ORDER BY ended_at DESC, id LIMIT 200`,
    )
    .all<DeliveryRow>();
  return results.map(toDeliveryView);
}

/** Whether the endpoint exists, and whether it is on. */
export async function endpointState(
  db: D1Database,
  id: string,
): Promise<{ enabled: boolean; url: string } | null> {
  const row = await db
    .prepare('SELECT enabled, url FROM webhook_endpoints WHERE id = ?1')
    .bind(id)
    .first<{ enabled: number; url: string }>();
  return row ? { enabled: row.enabled === 1, url: row.url } : null;
}

/**
 * Switches an endpoint off (with the reason ops see) or on again. Returns false for an
 * unknown id. Switching on clears the reason.
 */
export async function setEndpointEnabled(
  db: D1Database,
  id: string,
  enabled: boolean,
  opts: { reason?: string; nowMs: number },
): Promise<boolean> {
  const res = await db
    .prepare(
      `UPDATE webhook_endpoints SET enabled = ?2, disabled_reason = ?3, disabled_at = ?4, updated_at = ?5
       WHERE id = ?1`,
    )
    .bind(
      id,
      enabled ? 1 : 0,
      enabled ? null : (opts.reason ?? 'Von ops deaktiviert.').slice(0, 300),
      enabled ? null : opts.nowMs,
      opts.nowMs,
    )
    .run();
  return (res.meta.changes ?? 0) > 0;
}

/**
 * Deletes an endpoint and its delivery history; its pending deliveries end with it (the
 * consumer finds no endpoint and drops them). Returns false for an unknown id.
 */
export async function deleteEndpoint(db: D1Database, id: string): Promise<boolean> {
  const [, gone] = await db.batch([
    db.prepare('DELETE FROM webhook_deliveries WHERE target = ?1').bind(id),
    db.prepare('DELETE FROM webhook_endpoints WHERE id = ?1 RETURNING id').bind(id),
    // Events nobody needs any more (e.g. a test event for this endpoint).
    db.prepare(
      `DELETE FROM webhook_events WHERE dispatched_at IS NOT NULL AND NOT EXISTS (
         SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id AND d.state IN ('pending', 'dead'))`,
    ),
  ]);
  return gone.results.length > 0;
}

/**
 * A new secret for the endpoint, returned once. The previous one keeps signing for
 * ROTATION_GRACE_MS, so a receiver that has not switched yet still verifies. Null for an
 * unknown id.
 */
export async function rotateSecret(db: D1Database, id: string, nowMs: number): Promise<string | null> {
  const secret = newSecret();
  const row = await db
    .prepare(
      `UPDATE webhook_endpoints SET previous_secret = secret, previous_until = ?3, secret = ?2, updated_at = ?4
       WHERE id = ?1 RETURNING id`,
    )
    .bind(id, secret, nowMs + ROTATION_GRACE_MS, nowMs)
    .first();
  return row ? secret : null;
}

/** What the consumer needs to send to an endpoint, secrets included. */
export interface EndpointForDelivery {
  id: string;
  url: string;
  enabled: boolean;
  secrets: string[];
}

export async function endpointForDelivery(
  db: D1Database,
  id: string,
  nowMs: number,
): Promise<EndpointForDelivery | null> {
  const row = await db
    .prepare(
      'SELECT id, url, enabled, secret, previous_secret, previous_until FROM webhook_endpoints WHERE id = ?1',
    )
    .bind(id)
    .first<{
      id: string;
      url: string;
      enabled: number;
      secret: string;
      previous_secret: string | null;
      previous_until: number | null;
    }>();
  if (!row) return null;
  const secrets = [row.secret];
  if (row.previous_secret && row.previous_until !== null && row.previous_until > nowMs)
    secrets.push(row.previous_secret);
  return { id: row.id, url: row.url, enabled: row.enabled === 1, secrets };
}

/**
 * Puts a dead-lettered delivery back to pending with a fresh series of attempts; its
 * `webhook-id` stays. Returns the target, or null when there is no such dead letter (or
 * its event is gone, e.g. expired).
 */
export async function reviveDeadLetter(
  db: D1Database,
  id: string,
  nowMs: number,
): Promise<{ target: string } | null> {
  const row = await db
    .prepare(
      `UPDATE webhook_deliveries SET state = 'pending', attempts = 0, lease_until = 0, next_at = ?2, ended_at = NULL
       WHERE id = ?1 AND state = 'dead' AND EXISTS (SELECT 1 FROM webhook_events e WHERE e.id = event_id)
       RETURNING target`,
    )
    .bind(id, nowMs)
    .first<{ target: string }>();
  return row ?? null;
}
