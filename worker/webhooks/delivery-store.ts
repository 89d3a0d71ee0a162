/**
 * The consumer's side of `webhook_deliveries`: take a delivery for one attempt (a lease, so
 * duplicate queue messages never send the same delivery twice at the same time), then
 * record how the attempt went. When a delivery ends, its event is deleted as soon as no
 * other delivery of it is pending or dead-lettered: a delivered `lead.erased` leaves no
 * address behind.
 */
import type { DeliveryState } from '../../src/lib/webhooks';

/** A consumer holds a delivery for this long; longer than one attempt can take. */
export const LEASE_MS = 30_000;

export interface LeasedDelivery {
  id: string;
  eventId: string;
  eventType: string;
  target: string;
  /** Attempts including this one. */
  attempts: number;
}

export interface DeliveryEvent {
  type: string;
  leadId: string | null;
  payload: string;
}

export type Lease =
  | { kind: 'leased'; delivery: LeasedDelivery; event: DeliveryEvent | null }
  /** Another consumer is sending it right now. */
  | { kind: 'busy' }
  /** Delivered, dead-lettered or cancelled already, or no such delivery. */
  | { kind: 'finished' };

interface Row {
  id: string;
  event_id: string;
  event_type: string;
  target: string;
  attempts: number;
}

/** Takes the delivery for one attempt, with its event (null when the event is gone). */
export async function leaseDelivery(db: D1Database, id: string, nowMs: number): Promise<Lease> {
  const [leased, state, event] = await db.batch<Record<string, unknown>>([
    db
      .prepare(
        `UPDATE webhook_deliveries SET lease_until = ?2 + ${LEASE_MS}, attempts = attempts + 1
         WHERE id = ?1 AND state = 'pending' AND lease_until <= ?2
         RETURNING id, event_id, event_type, target, attempts`,
      )
      .bind(id, nowMs),
    db.prepare('SELECT state FROM webhook_deliveries WHERE id = ?1').bind(id),
    db
      .prepare(
        `SELECT e.type, e.lead_id, e.payload FROM webhook_events e
         JOIN webhook_deliveries d ON d.event_id = e.id WHERE d.id = ?1`,
      )
      .bind(id),
  ]);
  const row = leased.results[0] as unknown as Row | undefined;
  if (!row) return state.results[0]?.state === 'pending' ? { kind: 'busy' } : { kind: 'finished' };
  const e = event.results[0] as { type: string; lead_id: string | null; payload: string } | undefined;
  return {
    kind: 'leased',
    delivery: {
      id: row.id,
      eventId: row.event_id,
      eventType: row.event_type,
      target: row.target,
      attempts: row.attempts,
    },
    event: e ? { type: e.type, leadId: e.lead_id, payload: e.payload } : null,
  };
}

export interface AttemptRecord {
  /** `pending` = try again at `nextAtMs`. */
  state: DeliveryState;
  status?: number | null;
  latencyMs?: number | null;
  excerpt?: string | null;
  error?: string | null;
  nextAtMs?: number;
}

/**
 * Records the attempt and releases the lease. An ended delivery (anything but pending)
 * deletes its event once nothing else needs it.
 */
export async function recordAttempt(
  db: D1Database,
  d: LeasedDelivery,
  r: AttemptRecord,
  nowMs: number,
): Promise<void> {
  const ended = r.state !== 'pending';
  const statements = [
    db
      .prepare(
        `UPDATE webhook_deliveries SET state = ?2, lease_until = 0, last_at = ?3, last_status = ?4,
           last_error = ?5, latency_ms = ?6, excerpt = ?7, next_at = ?8, ended_at = ?9
         WHERE id = ?1`,
      )
      .bind(
        d.id,
        r.state,
        nowMs,
        r.status ?? null,
        r.error?.slice(0, 300) ?? null,
        r.latencyMs ?? null,
        r.excerpt ?? null,
        ended ? null : (r.nextAtMs ?? nowMs),
        ended ? nowMs : null,
      ),
  ];
  if (ended)
    statements.push(
      db
        .prepare(
          `DELETE FROM webhook_events WHERE id = ?1 AND NOT EXISTS (
             SELECT 1 FROM webhook_deliveries WHERE event_id = ?1 AND state IN ('pending', 'dead'))`,
        )
        .bind(d.eventId),
    );
  await db.batch(statements);
}

/** Marks a delivery dead that the queue gave up on (its consumer crashed every time). */
export async function markAbandoned(db: D1Database, id: string, nowMs: number): Promise<void> {
  await db
    .prepare(
      `UPDATE webhook_deliveries SET state = 'dead', lease_until = 0, ended_at = ?2,
         last_error = 'Von der Warteschlange nach der letzten Wiederholung abgelegt (z. B. Absturz des Verarbeiters).'
       WHERE id = ?1 AND state = 'pending'`,
    )
    .bind(id, nowMs)
    .run();
}
