/**
 * The webhook admin API: ops only, the secret shown once and never again, every change in
 * the audit log (with the host, never the path or a secret), test events, rotation,
 * dead letters sent again, and the Brevo settings.
 */
import { env } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import type { BrevoSettingsView, WebhooksOverview } from '../../src/lib/webhooks';
import { readAudit } from '../../worker/audit-log';
import { MARKETING, OPS, ORIGIN, postJsonInit, session } from './admin-helpers';
import { fakeQueue } from './mail-helpers';
import { adminRequest, deliveryRow, receiver, resetWebhooks, consume, addEndpoint } from './webhooks-helpers';

const URL_ = 'https://hooks.example.com/catch/123/s3cr3t-path/';

async function create(events = ['lead.confirmed', 'lead.erased'], headers = OPS()) {
  const res = await adminRequest('/api/admin/webhooks', postJsonInit({ url: URL_, events }, headers));
  return { res, body: (await res.json()) as { ok: boolean; id: string; secret: string } };
}

async function overview(): Promise<WebhooksOverview> {
  const res = await adminRequest('/api/admin/webhooks', { headers: OPS() });
  expect(res.status).toBe(200);
  return res.json();
}

async function lastAudit() {
  return (await readAudit(env.DB, { limit: 1 })).entries[0];
}

beforeEach(resetWebhooks);

describe('who may manage webhooks', () => {
  const routes: [string, string][] = [
    ['GET', '/api/admin/webhooks'],
    ['POST', '/api/admin/webhooks'],
    ['POST', '/api/admin/webhooks/ep_0000000000000000/disable'],
    ['POST', '/api/admin/webhooks/ep_0000000000000000/enable'],
    ['DELETE', '/api/admin/webhooks/ep_0000000000000000'],
    ['POST', '/api/admin/webhooks/ep_0000000000000000/test'],
    ['POST', '/api/admin/webhooks/ep_0000000000000000/rotate-secret'],
    ['POST', `/api/admin/webhooks/deliveries/msg_${'0'.repeat(24)}_brevo/resend`],
    ['GET', '/api/admin/connectors/brevo'],
    ['PUT', '/api/admin/connectors/brevo'],
  ];

  it.each(routes)(
    '%s %s: 403 for marketing, 401 without or with a wrong credential',
    async (method, path) => {
      const init = (headers: Record<string, string>) => ({
        method,
        headers: { 'content-type': 'application/json', ...headers },
        ...(method === 'GET' ? {} : { body: JSON.stringify({ url: URL_, events: ['lead.confirmed'] }) }),
      });
      expect((await adminRequest(path, init(MARKETING()))).status).toBe(403);
      expect((await adminRequest(path, init({}))).status).toBe(401);
      expect(
        (await adminRequest(path, init({ authorization: 'Bearer wrong-token-0123456789abcdef' }))).status,
      ).toBe(401);
      const stored = await env.DB.prepare('SELECT COUNT(*) AS n FROM webhook_endpoints').first<{
        n: number;
      }>();
      expect(stored!.n).toBe(0);
    },
  );

  it('refuses a cookie session mutation without the CSRF header', async () => {
    const s = await session(env.OPS_TOKEN);
    const res = await adminRequest(
      '/api/admin/webhooks',
      postJsonInit({ url: URL_, events: ['lead.confirmed'] }, { cookie: s.cookie, origin: ORIGIN }),
    );
    expect(res.status).toBe(403);
    const ok = await adminRequest(
      '/api/admin/webhooks',
      postJsonInit(
        { url: URL_, events: ['lead.confirmed'] },
        { cookie: s.cookie, origin: ORIGIN, 'x-csrf-token': s.csrf },
      ),
    );
    expect(ok.status).toBe(201);
  });
});

describe('creating an endpoint', () => {
  it('answers 201 with a Standard Webhooks secret once; the list never shows it', async () => {
    const { res, body } = await create();
    expect(res.status).toBe(201);
    expect(body.id).toMatch(/^ep_[0-9a-f]{16}$/);
    expect(body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(() => new Webhook(body.secret)).not.toThrow();

    const listRes = await adminRequest('/api/admin/webhooks', { headers: OPS() });
    const text = await listRes.text();
    expect(text).not.toContain(body.secret);
    expect(text).not.toContain(body.secret.slice(6));
    const list = JSON.parse(text) as WebhooksOverview;
    expect(list.endpoints).toEqual([
      {
        id: body.id,
        url: URL_,
        events: ['lead.confirmed', 'lead.erased'],
        enabled: true,
        disabledReason: null,
        createdAt: expect.any(String),
        previousSecretUntil: null,
        deliveries: [],
      },
    ]);
    expect(listRes.headers.get('cache-control')).toBe('no-store');
  });

  it('is audited with the host only, never the path or the secret', async () => {
    const { body } = await create();
    const entry = await lastAudit();
    expect(entry).toMatchObject({
      action: 'webhook.created',
      id: 'token:ops',
      detail: { endpoint: body.id, host: 'hooks.example.com', events: 'lead.confirmed,lead.erased' },
    });
    expect(JSON.stringify(entry)).not.toContain('s3cr3t-path');
    expect(JSON.stringify(entry)).not.toContain(body.secret);
  });

  it('refuses unknown, repeated or missing events with a German message at the field', async () => {
    const bad = async (events: unknown) =>
      (await (
        await adminRequest('/api/admin/webhooks', postJsonInit({ url: URL_, events }, OPS()))
      ).json()) as { errors: Record<string, string> };
    expect((await bad(['lead.deleted'])).errors.events).toMatch(/^Unbekanntes Ereignis/);
    expect((await bad([])).errors.events).toBe('Bitte wählen Sie mindestens ein Ereignis.');
    expect((await bad(['lead.erased', 'lead.erased'])).errors.events).toBe(
      'Jedes Ereignis darf nur einmal vorkommen.',
    );
    expect((await bad(undefined)).errors.events).toBe('Bitte wählen Sie mindestens ein Ereignis.');
  });
});

describe('changing an endpoint', () => {
  it('disables with a reason ops see, enables again, and audits both', async () => {
    const { body } = await create();
    const off = await adminRequest(`/api/admin/webhooks/${body.id}/disable`, {
      method: 'POST',
      headers: OPS(),
    });
    expect(off.status).toBe(200);
    let [ep] = (await overview()).endpoints;
    expect(ep.enabled).toBe(false);
    expect(ep.disabledReason).toBe('Ausgeschaltet von token:ops.');
    expect((await lastAudit()).action).toBe('webhook.disabled');
    await adminRequest(`/api/admin/webhooks/${body.id}/enable`, { method: 'POST', headers: OPS() });
    [ep] = (await overview()).endpoints;
    expect(ep).toMatchObject({ enabled: true, disabledReason: null });
    expect((await lastAudit()).action).toBe('webhook.enabled');
  });

  it('deletes, and then answers 404 for that id', async () => {
    const { body } = await create();
    const del = await adminRequest(`/api/admin/webhooks/${body.id}`, { method: 'DELETE', headers: OPS() });
    expect(del.status).toBe(200);
    expect((await overview()).endpoints).toEqual([]);
    expect((await lastAudit()).action).toBe('webhook.deleted');
    const again = await adminRequest(`/api/admin/webhooks/${body.id}`, { method: 'DELETE', headers: OPS() });
    expect(again.status).toBe(404);
    expect(await again.json()).toEqual({ ok: false, error: 'Diesen Endpunkt gibt es nicht (mehr).' });
  });

  it('rotates the secret: the new one is shown once, the old one signs for another 24 h', async () => {
    const { body } = await create();
    const res = await adminRequest(`/api/admin/webhooks/${body.id}/rotate-secret`, {
      method: 'POST',
      headers: OPS(),
    });
    const { secret } = (await res.json()) as { secret: string };
    expect(secret).toMatch(/^whsec_/);
    expect(secret).not.toBe(body.secret);
    const [ep] = (await overview()).endpoints;
    expect(Date.parse(ep.previousSecretUntil!) - Date.now()).toBeGreaterThan(23 * 3_600_000);
    expect(JSON.stringify(await overview())).not.toContain(secret);
    expect((await lastAudit()).action).toBe('webhook.secret_rotated');

    // A test event now carries two signatures: a receiver with either secret verifies it.
    const rx = receiver(() => new Response('ok'));
    await adminRequest(
      `/api/admin/webhooks/${body.id}/test`,
      { method: 'POST', headers: OPS() },
      { WEBHOOK_QUEUE: fakeQueue().binding },
    );
    const [delivery] = (await env.DB.prepare('SELECT id FROM webhook_deliveries').all<{ id: string }>())
      .results;
    await consume([delivery.id]);
    const got = rx.received[0];
    expect(got.headers['webhook-signature'].split(' ')).toHaveLength(2);
    for (const s of [body.secret, secret])
      expect(new Webhook(s).verify(got.body, got.headers)).toMatchObject({ type: 'webhook.test' });
  });
});

describe('a test event', () => {
  it('goes to that endpoint only, signed, and shows up in its deliveries', async () => {
    const { body } = await create();
    const other = await addEndpoint(['lead.confirmed']);
    const queue = fakeQueue();
    const res = await adminRequest(
      `/api/admin/webhooks/${body.id}/test`,
      { method: 'POST', headers: OPS() },
      { WEBHOOK_QUEUE: queue.binding },
    );
    expect(res.status).toBe(202);
    expect(queue.messages).toHaveLength(1);
    const rx = receiver(() => new Response('danke'));
    await consume([(queue.messages[0] as { delivery: string }).delivery]);
    expect(rx.received).toHaveLength(1);
    const payload = new Webhook(body.secret).verify(rx.received[0].body, rx.received[0].headers) as {
      type: string;
      data: { endpointId: string };
    };
    expect(payload).toMatchObject({ type: 'webhook.test', data: { endpointId: body.id } });
    const eps = (await overview()).endpoints;
    const mine = eps.find((e) => e.id === body.id)!;
    expect(mine.deliveries).toEqual([
      expect.objectContaining({
        eventType: 'webhook.test',
        state: 'delivered',
        attempts: 1,
        lastStatus: 200,
        excerpt: 'danke',
      }),
    ]);
    expect(eps.find((e) => e.id === other.id)!.deliveries).toEqual([]);
    expect((await lastAudit()).action).toBe('webhook.tested');
  });

  it('is refused for a switched-off endpoint', async () => {
    const { body } = await create();
    await adminRequest(`/api/admin/webhooks/${body.id}/disable`, { method: 'POST', headers: OPS() });
    const res = await adminRequest(`/api/admin/webhooks/${body.id}/test`, { method: 'POST', headers: OPS() });
    expect(res.status).toBe(409);
  });
});

describe('dead letters', () => {
  it('are listed, and sent again with the same webhook-id after a resend', async () => {
    const { body } = await create();
    const queue = fakeQueue();
    await adminRequest(
      `/api/admin/webhooks/${body.id}/test`,
      { method: 'POST', headers: OPS() },
      { WEBHOOK_QUEUE: queue.binding },
    );
    const id = (queue.messages[0] as { delivery: string }).delivery;
    const rx = receiver(() => new Response('kaputt', { status: 500 }));
    await consume([id], { attempts: 9 });
    await env.DB.prepare('UPDATE webhook_deliveries SET attempts = 9 WHERE id = ?1').bind(id).run();
    await consume([id], { attempts: 10 });
    expect((await deliveryRow(id))!.state).toBe('dead');
    const dead = (await overview()).deadLetters;
    expect(dead).toEqual([
      expect.objectContaining({ id, state: 'dead', lastStatus: 500, eventType: 'webhook.test' }),
    ]);

    const resendQueue = fakeQueue();
    const res = await adminRequest(
      `/api/admin/webhooks/deliveries/${id}/resend`,
      { method: 'POST', headers: OPS() },
      { WEBHOOK_QUEUE: resendQueue.binding },
    );
    expect(res.status).toBe(202);
    expect(resendQueue.messages).toEqual([{ delivery: id }]);
    expect((await overview()).deadLetters).toEqual([]);
    rx.spy.mockImplementation(async () => new Response('ok'));
    await consume([id]);
    expect(rx.received.at(-1)!.headers['webhook-id']).toBe(id);
    expect(rx.received[0].headers['webhook-id']).toBe(id);
    expect((await deliveryRow(id))!.state).toBe('delivered');
    expect((await lastAudit()).action).toBe('webhook.resent');
  });

  it('answer 404 for a delivery that is not dead', async () => {
    const res = await adminRequest(`/api/admin/webhooks/deliveries/msg_${'a'.repeat(24)}_brevo/resend`, {
      method: 'POST',
      headers: OPS(),
    });
    expect(res.status).toBe(404);
  });
});

describe('the Brevo settings', () => {
  const put = (body: unknown, overrides: Record<string, unknown> = { BREVO_API_KEY: 'xkeysib-test' }) =>
    adminRequest(
      '/api/admin/connectors/brevo',
      {
        method: 'PUT',
        headers: { ...OPS(), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      },
      overrides,
    );

  it('start off, say whether the API key is set, and never show it', async () => {
    const res = await adminRequest(
      '/api/admin/connectors/brevo',
      { headers: OPS() },
      { BREVO_API_KEY: 'xkeysib-geheim' },
    );
    const text = await res.text();
    expect(text).not.toContain('xkeysib-geheim');
    expect(JSON.parse(text) as BrevoSettingsView).toEqual({
      ok: true,
      enabled: false,
      listId: null,
      attributes: {
        firstName: 'FIRSTNAME',
        doiAt: 'DOI_CONFIRMED_AT',
        doiIp: 'DOI_IP',
        doiTextVersion: 'DOI_TEXT_VERSION',
      },
      apiKeyConfigured: true,
      deliveries: [],
    });
  });

  it('are switched on with a list and attribute names, and audited', async () => {
    const res = await put({ enabled: true, listId: 12, attributes: { firstName: 'VORNAME' } });
    expect(res.status).toBe(200);
    const view = (await (
      await adminRequest('/api/admin/connectors/brevo', { headers: OPS() }, { BREVO_API_KEY: 'k' })
    ).json()) as BrevoSettingsView;
    expect(view).toMatchObject({
      enabled: true,
      listId: 12,
      attributes: { firstName: 'VORNAME', doiIp: 'DOI_IP' },
    });
    expect(await lastAudit()).toMatchObject({
      action: 'connector.updated',
      detail: { connector: 'brevo', enabled: true, listId: 12 },
    });
  });

  it('refuse to switch on without a list, with a bad attribute name, or without the API key', async () => {
    expect(await (await put({ enabled: true })).json()).toEqual({
      ok: false,
      errors: { listId: 'Zum Einschalten brauchen wir die ID der Brevo-Liste.' },
    });
    const badAttr = (await (await put({ enabled: false, attributes: { doiIp: 'doi ip' } })).json()) as {
      errors: Record<string, string>;
    };
    expect(badAttr.errors.attributes).toMatch(/^Attributnamen bestehen aus Großbuchstaben/);
    expect(await (await put({ listId: 3 })).json()).toEqual({
      ok: false,
      errors: { enabled: 'Bitte geben Sie an, ob der Connector eingeschaltet sein soll.' },
    });
    const noKey = await put({ enabled: true, listId: 3 }, { BREVO_API_KEY: '' });
    expect(noKey.status).toBe(409);
    expect(((await noKey.json()) as { error: string }).error).toContain('BREVO_API_KEY');
  });
});
