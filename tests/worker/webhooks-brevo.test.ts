/**
 * The Brevo connector against Brevo's documented contacts API (developers.brevo.com:
 * `POST /v3/contacts` with `listIds`, `attributes`, `updateEnabled`; `PUT` and `DELETE
 * /v3/contacts/{identifier}?identifierType=email_id`; header `api-key`), played by msw.
 * No request leaves the test: an unhandled one fails it.
 */
import { env } from 'cloudflare:test';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eraseAddress, getLead, unsubscribeLead } from '../../worker/store/lead-store';
import { BREVO_API } from '../../worker/webhooks/brevo';
import { DEFAULT_BREVO_ATTRIBUTES, saveBrevoSettings } from '../../worker/webhooks/connector-store';
import { makeLead, TEST_TEXTS } from './mail-helpers';
import { consume, deliveryRow, dispatchAll, outboxRows, resetWebhooks } from './webhooks-helpers';

const API_KEY = 'xkeysib-test-0123456789';
const LIST = 42;
const BREVO_ENV = { BREVO_API_KEY: API_KEY };

interface Contact {
  email: string;
  listIds: number[];
  attributes: Record<string, unknown>;
}

/** Brevo's contacts, as the double keeps them, and every request it saw. */
const contacts = new Map<string, Contact>();
const seen: { method: string; path: string; query: string; body: unknown }[] = [];
/** Set by a test to make Brevo answer something else for the next request. */
let override: (() => Response) | null = null;
/** Runs while Brevo handles the next POST (to act "meanwhile"). */
let duringPost: (() => Promise<void>) | null = null;

const unauthorized = () =>
  HttpResponse.json({ code: 'unauthorized', message: 'Key not found' }, { status: 401 });
const notFound = () =>
  HttpResponse.json({ code: 'document_not_found', message: 'Contact does not exist' }, { status: 404 });

const brevo = setupServer(
  http.post(`${BREVO_API}/contacts`, async ({ request }) => {
    const body = (await request.json()) as Contact & { updateEnabled?: boolean };
    seen.push({ method: 'POST', path: '/contacts', query: '', body });
    if (request.headers.get('api-key') !== API_KEY) return unauthorized();
    if (override) return override();
    await duringPost?.();
    const existing = contacts.get(body.email);
    if (existing && !body.updateEnabled)
      return HttpResponse.json(
        { code: 'duplicate_parameter', message: 'Contact already exist' },
        { status: 400 },
      );
    contacts.set(body.email, {
      email: body.email,
      listIds: [...new Set([...(existing?.listIds ?? []), ...(body.listIds ?? [])])],
      attributes: { ...existing?.attributes, ...body.attributes },
    });
    return existing
      ? new HttpResponse(null, { status: 204 })
      : HttpResponse.json({ id: contacts.size }, { status: 201 });
  }),
  http.put(`${BREVO_API}/contacts/:identifier`, async ({ request, params }) => {
    const url = new URL(request.url);
    const body = (await request.json()) as { unlinkListIds?: number[]; emailBlacklisted?: boolean };
    seen.push({ method: 'PUT', path: `/contacts/${String(params.identifier)}`, query: url.search, body });
    if (request.headers.get('api-key') !== API_KEY) return unauthorized();
    if (override) return override();
    const c = contacts.get(String(params.identifier));
    if (!c || url.searchParams.get('identifierType') !== 'email_id') return notFound();
    c.listIds = c.listIds.filter((l) => !(body.unlinkListIds ?? []).includes(l));
    return new HttpResponse(null, { status: 204 });
  }),
  http.delete(`${BREVO_API}/contacts/:identifier`, ({ request, params }) => {
    const url = new URL(request.url);
    seen.push({
      method: 'DELETE',
      path: `/contacts/${String(params.identifier)}`,
      query: url.search,
      body: null,
    });
    if (request.headers.get('api-key') !== API_KEY) return unauthorized();
    if (override) return override();
    if (url.searchParams.get('identifierType') !== 'email_id' || !contacts.delete(String(params.identifier)))
      return notFound();
    return new HttpResponse(null, { status: 204 });
  }),
);

beforeAll(() => brevo.listen({ onUnhandledRequest: 'error' }));
afterAll(() => brevo.close());
beforeEach(async () => {
  await resetWebhooks();
  contacts.clear();
  seen.length = 0;
  override = null;
  duringPost = null;
  await saveBrevoSettings(
    env.DB,
    { enabled: true, listId: LIST, attributes: DEFAULT_BREVO_ATTRIBUTES },
    { by: 'token:ops', nowMs: Date.now() },
  );
});
afterEach(() => brevo.resetHandlers());

/** Dispatches and consumes everything waiting, as cron and queue would. */
async function sync() {
  const ids = await dispatchAll(Date.now(), BREVO_ENV);
  if (ids.length) await consume(ids, { env: BREVO_ENV });
  return ids;
}

async function subscribed(tag: string) {
  const lead = await makeLead('confirmed', tag, { newsletter: true });
  await sync();
  return lead;
}

describe('a confirmed newsletter consent', () => {
  it('adds the contact to the chosen list with first name and DOI proof', async () => {
    const lead = await subscribed('add');
    const stored = await getLead(env.DB, lead.id);
    const newsletter = stored!.consents.find((c) => c.kind === 'newsletter')!;
    expect(contacts.get(lead.email)).toEqual({
      email: lead.email,
      listIds: [LIST],
      attributes: {
        FIRSTNAME: stored!.firstName,
        DOI_CONFIRMED_AT: newsletter.confirmed!.at,
        DOI_IP: newsletter.confirmed!.ip,
        DOI_TEXT_VERSION: TEST_TEXTS.version,
      },
    });
    expect(seen[0].body).toMatchObject({ updateEnabled: true });
    const [row] = (
      await env.DB.prepare("SELECT * FROM webhook_deliveries WHERE target = 'brevo'").all<{ id: string }>()
    ).results;
    expect(await deliveryRow(row.id)).toMatchObject({ state: 'delivered', last_status: 201 });
  });

  it('uses the attribute names ops chose, and leaves out the ones left empty', async () => {
    await saveBrevoSettings(
      env.DB,
      {
        enabled: true,
        listId: LIST,
        attributes: { firstName: 'VORNAME', doiAt: 'OPTIN_ZEIT', doiIp: '', doiTextVersion: '' },
      },
      { by: 'token:ops', nowMs: Date.now() },
    );
    const lead = await subscribed('names');
    expect(Object.keys(contacts.get(lead.email)!.attributes).sort()).toEqual(['OPTIN_ZEIT', 'VORNAME']);
  });

  it('updates a contact that already exists in Brevo instead of failing', async () => {
    const lead = await makeLead('confirmed', 'exists', { newsletter: true });
    contacts.set(lead.email, { email: lead.email, listIds: [7], attributes: { OTHER: 'x' } });
    await sync();
    expect(contacts.get(lead.email)).toMatchObject({
      listIds: [7, LIST],
      attributes: { OTHER: 'x', DOI_IP: expect.any(String) },
    });
  });

  it('is the only thing that reaches Brevo: a lead without newsletter consent is never sent', async () => {
    const lead = await makeLead('confirmed', 'nonews');
    await unsubscribeLead(env.DB, lead.id, Date.now());
    await eraseAddress(env.DB, env.LEAD_KEY_SECRET, lead.email, { atMs: Date.now(), by: 'ops' });
    await sync();
    expect(seen).toEqual([]);
  });
});

describe('an unsubscribe', () => {
  it('takes the contact off the list', async () => {
    const lead = await subscribed('unsub');
    await unsubscribeLead(env.DB, lead.id, Date.now());
    await sync();
    expect(seen.at(-1)).toEqual({
      method: 'PUT',
      path: `/contacts/${lead.email}`,
      query: '?identifierType=email_id',
      body: { unlinkListIds: [LIST] },
    });
    expect(contacts.get(lead.email)!.listIds).toEqual([]);
  });

  it('counts as done when the contact is already gone from Brevo', async () => {
    const lead = await subscribed('gonethere');
    contacts.delete(lead.email);
    await unsubscribeLead(env.DB, lead.id, Date.now());
    await sync();
    const rows = (
      await env.DB.prepare(
        "SELECT state, last_status FROM webhook_deliveries WHERE target = 'brevo' AND event_type = 'lead.unsubscribed'",
      ).all()
    ).results;
    expect(rows).toEqual([{ state: 'delivered', last_status: 404 }]);
  });
});

describe('an erasure', () => {
  it('deletes the contact in Brevo and then keeps nothing of the person', async () => {
    const lead = await subscribed('erase');
    await eraseAddress(env.DB, env.LEAD_KEY_SECRET, lead.email, { atMs: Date.now(), by: 'visitor' });
    await sync();
    expect(seen.at(-1)).toMatchObject({
      method: 'DELETE',
      path: `/contacts/${lead.email}`,
      query: '?identifierType=email_id',
    });
    expect(contacts.has(lead.email)).toBe(false);
    expect(await outboxRows(lead.id)).toEqual([]);
    const left = await env.DB.prepare('SELECT COUNT(*) AS n FROM connector_contacts WHERE lead_id = ?1')
      .bind(lead.id)
      .first<{ n: number }>();
    expect(left!.n).toBe(0);
  });

  it('and an unsubscribe still reach Brevo after the connector was switched off', async () => {
    const a = await subscribed('offerase');
    const b = await subscribed('offunsub');
    await saveBrevoSettings(
      env.DB,
      { enabled: false, listId: LIST, attributes: DEFAULT_BREVO_ATTRIBUTES },
      { by: 'token:ops', nowMs: Date.now() },
    );
    await eraseAddress(env.DB, env.LEAD_KEY_SECRET, a.email, { atMs: Date.now(), by: 'visitor' });
    await unsubscribeLead(env.DB, b.id, Date.now());
    // Nobody new is added while it is off.
    const c = await makeLead('confirmed', 'offnew', { newsletter: true });
    await sync();
    expect(contacts.has(a.email)).toBe(false);
    expect(contacts.get(b.email)!.listIds).toEqual([]);
    expect(contacts.has(c.email)).toBe(false);
  });

  it('that happens while the contact is being added removes it again', async () => {
    const lead = await makeLead('confirmed', 'race', { newsletter: true });
    duringPost = async () => {
      duringPost = null;
      await eraseAddress(env.DB, env.LEAD_KEY_SECRET, lead.email, { atMs: Date.now(), by: 'visitor' });
    };
    await sync();
    expect(seen.map((s) => s.method)).toEqual(['POST', 'DELETE']);
    expect(contacts.has(lead.email)).toBe(false);
  });
});

describe('events out of order', () => {
  it('never add someone who has unsubscribed since the confirmation', async () => {
    const lead = await makeLead('confirmed', 'late', { newsletter: true });
    const ids = await dispatchAll(Date.now(), BREVO_ENV);
    await unsubscribeLead(env.DB, lead.id, Date.now());
    await consume(ids, { env: BREVO_ENV });
    expect(seen).toEqual([]);
    expect(await deliveryRow(ids[0])).toMatchObject({
      state: 'cancelled',
      last_error: 'Inzwischen abgemeldet oder gelöscht: nicht übertragen.',
    });
  });
});

describe('failures', () => {
  it('a 400 from Brevo is dead-lettered at once with its message for ops', async () => {
    override = () =>
      HttpResponse.json(
        { code: 'invalid_parameter', message: 'Attribute DOI_IP does not exist' },
        { status: 400 },
      );
    await makeLead('confirmed', 'bad', { newsletter: true });
    const [id] = await dispatchAll(Date.now(), BREVO_ENV);
    const { result } = await consume([id], { env: BREVO_ENV });
    expect(result.retryMessages).toHaveLength(0);
    const row = await deliveryRow(id);
    expect(row).toMatchObject({ state: 'dead', attempts: 1, last_status: 400 });
    expect(row!.last_error).toMatch(/^Brevo lehnt die Daten ab \(400\)/);
    expect(row!.excerpt).toContain('Attribute DOI_IP does not exist');
  });

  it('a wrong API key is dead-lettered at once and says which secret to check', async () => {
    await makeLead('confirmed', 'key', { newsletter: true });
    const [id] = await dispatchAll(Date.now(), BREVO_ENV);
    await consume([id], { env: { BREVO_API_KEY: 'xkeysib-wrong' } });
    expect((await deliveryRow(id))!.last_error).toBe(
      'Brevo lehnt den API-Schlüssel ab (401). Bitte BREVO_API_KEY prüfen.',
    );
  });

  it('a 503 is retried like a webhook, the first time within 30 s', async () => {
    override = () => new HttpResponse('down', { status: 503 });
    await makeLead('confirmed', 'down', { newsletter: true });
    const [id] = await dispatchAll(Date.now(), BREVO_ENV);
    const { delays } = await consume([id], { env: BREVO_ENV });
    expect(delays[0]).toBeLessThanOrEqual(30);
    expect(await deliveryRow(id)).toMatchObject({ state: 'pending', last_status: 503 });
    override = null;
    await consume([id], { env: BREVO_ENV, attempts: 2 });
    expect((await deliveryRow(id))!.state).toBe('delivered');
  });

  it('while the connector is off, a delivery waits as a dead letter for a resend', async () => {
    await makeLead('confirmed', 'offnow', { newsletter: true });
    const [id] = await dispatchAll(Date.now(), BREVO_ENV);
    await saveBrevoSettings(
      env.DB,
      { enabled: false, listId: LIST, attributes: DEFAULT_BREVO_ATTRIBUTES },
      { by: 'token:ops', nowMs: Date.now() },
    );
    await consume([id], { env: BREVO_ENV });
    expect(seen).toEqual([]);
    expect((await deliveryRow(id))!.state).toBe('dead');
  });
});
