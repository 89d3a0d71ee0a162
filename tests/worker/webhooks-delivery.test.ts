/**
 * Deliveries as a receiver sees them: signed per Standard Webhooks, retried with the same
 * `webhook-id` and growing delays, cut off after 10 s, never redirected, a 410 switches
 * the endpoint off with a reason ops see, dead letters after the last attempt, and a
 * delivered erasure leaves no address behind.
 */
import { createScheduledController, env } from 'cloudflare:test';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Webhook } from 'standardwebhooks';
import worker from '../../worker/index';
import { eraseAddress } from '../../worker/store/lead-store';
import { RETRY_DELAYS_S, retryDelaySeconds, WEBHOOK_MAX_ATTEMPTS } from '../../worker/webhooks/consumer';
import { DELIVERY_TIMEOUT_MS, EXCERPT_MAX } from '../../worker/webhooks/deliver';
import { listEndpoints } from '../../worker/webhooks/endpoint-store';
import { fakeQueue, makeLead } from './mail-helpers';
import {
  addEndpoint,
  consume,
  deliveryRow,
  dispatchAll,
  outboxRows,
  receiver,
  RECEIVER,
  resetWebhooks,
} from './webhooks-helpers';

beforeEach(resetWebhooks);
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

/** A confirmed lead with a subscribed endpoint, dispatched: the delivery id to consume. */
async function confirmedDelivery(events: Parameters<typeof addEndpoint>[0] = ['lead.confirmed']) {
  const endpoint = await addEndpoint(events);
  const lead = await makeLead('confirmed', 'hook', { newsletter: true });
  const [delivery] = await dispatchAll();
  return { endpoint, lead, delivery };
}

describe('a delivery', () => {
  it('is a POST signed with the endpoint secret that the standardwebhooks package verifies', async () => {
    const { endpoint, lead, delivery } = await confirmedDelivery();
    const rx = receiver(() => new Response(null, { status: 204 }));
    const { result } = await consume([delivery]);
    expect(result.explicitAcks).toHaveLength(1);
    const [got] = rx.received;
    expect(got).toMatchObject({ url: RECEIVER, method: 'POST' });
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['webhook-id']).toBe(delivery);
    expect(Math.abs(Number(got.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(5);
    const payload = new Webhook(endpoint.secret).verify(got.body, got.headers) as {
      type: string;
      data: { leadId: string; email: string };
    };
    expect(payload).toMatchObject({ type: 'lead.confirmed', data: { leadId: lead.id, email: lead.email } });
    // A wrong secret does not verify.
    expect(() => new Webhook(`whsec_${btoa('x'.repeat(32))}`).verify(got.body, got.headers)).toThrow();
    expect(await deliveryRow(delivery)).toMatchObject({ state: 'delivered', attempts: 1, last_status: 204 });
  });

  it('is retried after a 500 with the same webhook-id, the first retry within 30 s', async () => {
    const { endpoint, delivery } = await confirmedDelivery();
    const rx = receiver((_r, n) => new Response(n === 1 ? 'Fehler' : 'ok', { status: n === 1 ? 500 : 200 }));
    const first = await consume([delivery]);
    expect(first.result.retryMessages).toHaveLength(1);
    expect(first.delays[0]).toBeGreaterThanOrEqual(15);
    expect(first.delays[0]).toBeLessThanOrEqual(30);
    expect(await deliveryRow(delivery)).toMatchObject({
      state: 'pending',
      attempts: 1,
      last_status: 500,
      excerpt: 'Fehler',
      last_error: 'Der Empfänger hat mit Status 500 geantwortet.',
    });

    vi.setSystemTime(Date.now() + first.delays[0]! * 1000);
    await consume([delivery], { attempts: 2 });
    expect(rx.received.map((r) => r.headers['webhook-id'])).toEqual([delivery, delivery]);
    // Each attempt is signed with its own time, and verifies.
    for (const r of rx.received) expect(new Webhook(endpoint.secret).verify(r.body, r.headers)).toBeTruthy();
    expect(await deliveryRow(delivery)).toMatchObject({ state: 'delivered', attempts: 2, last_status: 200 });
  });

  it('waits at least as long as Retry-After asks', async () => {
    const { delivery } = await confirmedDelivery();
    receiver(() => new Response('busy', { status: 503, headers: { 'retry-after': '600' } }));
    const { delays } = await consume([delivery]);
    expect(delays[0]).toBe(600);
  });

  it('sends duplicate queue messages of one delivery once', async () => {
    const { delivery } = await confirmedDelivery();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const rx = receiver(async () => {
      await gate;
      return new Response('ok');
    });
    const a = consume([delivery]);
    await vi.waitFor(() => expect(rx.received).toHaveLength(1));
    const b = await consume([delivery]);
    release();
    await a;
    expect(rx.received).toHaveLength(1);
    expect(b.delays).toEqual([30]);
    const c = await consume([delivery]);
    expect(c.result.explicitAcks).toHaveLength(1);
    expect(rx.received).toHaveLength(1);
  });

  it('keeps at most 200 characters of the answer, without addresses or IPs', async () => {
    const { delivery } = await confirmedDelivery();
    const answer = `Fehler für max@example.org von 203.0.113.9 ${'x'.repeat(5000)}`;
    receiver(() => new Response(answer, { status: 400 }));
    await consume([delivery]);
    const row = await deliveryRow(delivery);
    expect(row!.excerpt!.length).toBeLessThanOrEqual(EXCERPT_MAX);
    expect(row!.excerpt).toMatch(/^Fehler für \[email\] von \[ip\] x+$/);
  });

  it('does not follow a redirect', async () => {
    const { delivery } = await confirmedDelivery();
    const rx = receiver(
      () => new Response(null, { status: 302, headers: { location: 'http://169.254.169.254/' } }),
    );
    await consume([delivery]);
    expect(rx.received).toHaveLength(1);
    expect(rx.spy.mock.calls[0][1]).toMatchObject({ redirect: 'manual' });
    expect((await deliveryRow(delivery))!.last_error).toMatch(/leitet um \(302\)/);
  });

  it('cuts off a receiver that hangs after 10 s and tries again later', { timeout: 30_000 }, async () => {
    const { delivery } = await confirmedDelivery();
    let abortedAfter = -1;
    receiver(
      () =>
        new Promise<Response>(() => {
          // Never answers; only the worker's own timeout ends the request.
        }),
    );
    const started = Date.now();
    vi.mocked(globalThis.fetch).mockImplementation(
      (_input, init) =>
        new Promise((_resolve, reject) => {
          init?.signal?.addEventListener('abort', () => {
            abortedAfter = Date.now() - started;
            reject(init.signal!.reason);
          });
        }),
    );
    const { delays } = await consume([delivery]);
    expect(abortedAfter).toBeGreaterThanOrEqual(DELIVERY_TIMEOUT_MS - 50);
    expect(abortedAfter).toBeLessThan(DELIVERY_TIMEOUT_MS + 3000);
    expect(delays[0]).toBeLessThanOrEqual(30);
    expect(await deliveryRow(delivery)).toMatchObject({
      state: 'pending',
      last_status: null,
      last_error: 'Keine Antwort innerhalb von 10 s: Die Verbindung wurde abgebrochen.',
    });
  });
});

describe('a receiver that answers 410 Gone', () => {
  it('gets its endpoint switched off, and ops see why', async () => {
    const { endpoint, delivery } = await confirmedDelivery();
    const rx = receiver(() => new Response('gone', { status: 410 }));
    await consume([delivery]);
    const [ep] = await listEndpoints(env.DB);
    expect(ep.id).toBe(endpoint.id);
    expect(ep.enabled).toBe(false);
    expect(ep.disabledReason).toMatch(
      /^Automatisch ausgeschaltet: Der Empfänger hat am .* mit 410 Gone geantwortet\.$/,
    );
    expect(ep.deliveries[0]).toMatchObject({ state: 'dead', lastStatus: 410 });

    // Nothing more is stored or sent for it.
    await makeLead('confirmed', 'after410', { newsletter: true });
    expect(await dispatchAll()).toEqual([]);
    expect(rx.received).toHaveLength(1);
  });
});

describe('after the last attempt', () => {
  it('the delivery is a dead letter with its last status', async () => {
    const { delivery } = await confirmedDelivery();
    const rx = receiver(() => new Response('nein', { status: 500 }));
    for (let n = 1; n <= WEBHOOK_MAX_ATTEMPTS; n++) {
      const { result } = await consume([delivery], { attempts: n });
      expect(result.retryMessages.length).toBe(n < WEBHOOK_MAX_ATTEMPTS ? 1 : 0);
    }
    expect(rx.received).toHaveLength(WEBHOOK_MAX_ATTEMPTS);
    expect(await deliveryRow(delivery)).toMatchObject({
      state: 'dead',
      attempts: WEBHOOK_MAX_ATTEMPTS,
      last_status: 500,
    });
  });

  it('backs off from seconds to hours', () => {
    expect(retryDelaySeconds(1, null, 0)).toBe(15);
    expect(retryDelaySeconds(1, null, 1)).toBeLessThanOrEqual(30);
    const delays = RETRY_DELAYS_S.map((_, i) => retryDelaySeconds(i + 1, null, 0));
    expect(delays).toEqual([...delays].sort((a, b) => a - b));
    expect(delays.at(-1)).toBe(12 * 3600);
    expect(retryDelaySeconds(50, null, 1)).toBe(12 * 3600);
  });
});

describe('the URL is checked again before sending', () => {
  it('and a private address saved by other means is never called', async () => {
    const endpoint = await addEndpoint(['lead.confirmed']);
    await env.DB.prepare("UPDATE webhook_endpoints SET url = 'https://10.0.0.7/x' WHERE id = ?1")
      .bind(endpoint.id)
      .run();
    await makeLead('confirmed', 'private');
    const [delivery] = await dispatchAll();
    const rx = receiver(() => new Response('ok'));
    await consume([delivery]);
    expect(rx.received).toHaveLength(0);
    expect((await deliveryRow(delivery))!.state).toBe('dead');
  });
});

describe('an erasure', () => {
  it('delivers lead.erased with the address, then keeps no trace of it', async () => {
    const endpoint = await addEndpoint(['lead.erased']);
    const lead = await makeLead('confirmed', 'erase');
    await eraseAddress(env.DB, env.LEAD_KEY_SECRET, lead.email, { atMs: Date.now(), by: 'visitor' });
    const [delivery] = await dispatchAll();
    const rx = receiver(() => new Response('deleted'));
    await consume([delivery]);
    const payload = new Webhook(endpoint.secret).verify(rx.received[0].body, rx.received[0].headers);
    expect(payload).toMatchObject({ type: 'lead.erased', data: { leadId: lead.id, email: lead.email } });
    expect(await outboxRows(lead.id)).toEqual([]);
    const dump = JSON.stringify(
      (await env.DB.prepare('SELECT * FROM webhook_deliveries').all()).results.concat(
        (await env.DB.prepare('SELECT * FROM webhook_events').all()).results,
      ),
    );
    expect(dump).not.toContain(lead.email);
    expect(dump).not.toContain(lead.id);
  });
});

describe('moving events to the queue', () => {
  it('happens on the every-minute cron', async () => {
    await addEndpoint(['lead.confirmed']);
    await makeLead('confirmed', 'cron');
    const queue = fakeQueue();
    const controller = createScheduledController({ cron: '* * * * *', scheduledTime: new Date() });
    await worker.scheduled(controller, { ...env, WEBHOOK_QUEUE: queue.binding });
    expect(queue.messages).toHaveLength(1);
    expect((await outboxRows())[0].dispatched_at).not.toBeNull();
    // A second run finds nothing new.
    await worker.scheduled(controller, { ...env, WEBHOOK_QUEUE: queue.binding });
    expect(queue.messages).toHaveLength(1);
  });

  it('leaves nothing behind for an event whose only endpoint went off before dispatch', async () => {
    const endpoint = await addEndpoint(['lead.confirmed']);
    await makeLead('confirmed', 'offbefore');
    await env.DB.prepare('UPDATE webhook_endpoints SET enabled = 0 WHERE id = ?1').bind(endpoint.id).run();
    expect(await dispatchAll()).toEqual([]);
    expect(await outboxRows()).toEqual([]);
  });
});
