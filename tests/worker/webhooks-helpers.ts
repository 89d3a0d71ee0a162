/** Helpers for the webhook tests: endpoints, the outbox, dispatch and one consumer run. */
import { env } from 'cloudflare:test';
import { vi } from 'vitest';
import { dispatchOutbox } from '../../worker/webhooks/dispatch';
import { createEndpoint } from '../../worker/webhooks/endpoint-store';
import type { WebhookEventType } from '../../src/lib/webhooks';
import { app } from '../../worker/app';
import { ORIGIN } from './admin-helpers';
import { uniqueIp } from './helpers';
import { fakeQueue, runQueue } from './mail-helpers';

export const RECEIVER = 'https://hooks.example.com/webinar';

/** An enabled endpoint straight in D1 (the admin API is tested on its own). */
export function addEndpoint(events: WebhookEventType[], url = RECEIVER) {
  return createEndpoint(env.DB, { url, events, by: 'token:ops', nowMs: Date.now() });
}

export interface StoredEvent {
  id: string;
  type: string;
  lead_id: string | null;
  at: number;
  payload: string;
  dispatched_at: number | null;
}

/** Outbox rows of a lead (or every row), oldest first. */
export async function outboxRows(leadId?: string): Promise<StoredEvent[]> {
  const stmt = leadId
    ? env.DB.prepare('SELECT * FROM webhook_events WHERE lead_id = ?1 ORDER BY at, id').bind(leadId)
    : env.DB.prepare('SELECT * FROM webhook_events ORDER BY at, id');
  return (await stmt.all<StoredEvent>()).results;
}

/** The parsed payload of the lead's only event of `type`. */
export async function payloadOf(leadId: string, type: string) {
  const rows = (await outboxRows(leadId)).filter((r) => r.type === type);
  if (rows.length !== 1) throw new Error(`expected one ${type} event, found ${rows.length}`);
  return JSON.parse(rows[0].payload) as {
    type: string;
    timestamp: string;
    version: number;
    data: Record<string, unknown>;
  };
}

/** Dispatches the outbox into a recording queue; returns the delivery ids queued. */
export async function dispatchAll(nowMs = Date.now(), overrides: Partial<Env> = {}): Promise<string[]> {
  const queue = fakeQueue();
  await dispatchOutbox({ ...env, ...overrides, WEBHOOK_QUEUE: queue.binding }, nowMs);
  return queue.messages.map((m) => (m as { delivery: string }).delivery);
}

/** Runs the webhook consumer on these deliveries, as the queue would hand them over. */
export function consume(deliveries: string[], opts: { attempts?: number; env?: Partial<Env> } = {}) {
  return runQueue(
    'webinar-webhooks',
    deliveries.map((delivery) => ({ body: { delivery }, attempts: opts.attempts ?? 1 })),
    opts.env ?? {},
  );
}

export interface Received {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * Replaces the worker's outbound fetch with a receiver: `answer` decides each response
 * (a new Response per call). Returns what arrived.
 */
export function receiver(answer: (req: Received, n: number) => Response | Promise<Response>) {
  const received: Received[] = [];
  const spy = vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const req = new Request(input as RequestInfo, init);
    const r: Received = {
      url: req.url,
      method: req.method,
      headers: Object.fromEntries(req.headers),
      body: await req.text(),
    };
    received.push(r);
    return answer(r, received.length);
  });
  return { received, spy };
}

export async function deliveryRow(id: string) {
  return env.DB.prepare('SELECT * FROM webhook_deliveries WHERE id = ?1').bind(id).first<{
    state: string;
    attempts: number;
    last_status: number | null;
    last_error: string | null;
    excerpt: string | null;
    latency_ms: number | null;
    next_at: number | null;
  }>();
}

/** Every webhook table emptied: each test starts without endpoints or events. */
export async function resetWebhooks() {
  await env.DB.batch(
    [
      'webhook_endpoints',
      'webhook_events',
      'webhook_deliveries',
      'connector_settings',
      'connector_contacts',
    ].map((t) => env.DB.prepare(`DELETE FROM ${t}`)),
  );
}

/** `app.request` against the admin API with bindings replaced (a fresh client IP each time). */
export function adminRequest(path: string, init: RequestInit = {}, overrides: Record<string, unknown> = {}) {
  const headers = new Headers(init.headers);
  if (!headers.has('cf-connecting-ip')) headers.set('cf-connecting-ip', uniqueIp());
  return Promise.resolve(app.request(`${ORIGIN}${path}`, { ...init, headers }, { ...env, ...overrides }));
}
