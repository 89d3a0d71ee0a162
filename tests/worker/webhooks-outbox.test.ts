/**
 * The webhook outbox, written in the lead store's own batches: a row only when the change
 * happened and someone listens, the payload a receiver needs, and an erasure that carries
 * the address out and leaves nothing else of the person behind.
 */
import { env } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import { validateRegistration } from '../../src/lib/registration';
import { leadId } from '../../worker/store/lead-keys';
import {
  confirmLead,
  eraseAddress,
  registerLead,
  unsubscribeLead,
  type RegistrationContext,
} from '../../worker/store/lead-store';
import { saveBrevoSettings, DEFAULT_BREVO_ATTRIBUTES } from '../../worker/webhooks/connector-store';
import { setEndpointEnabled } from '../../worker/webhooks/endpoint-store';
import { drawWinners } from '../../worker/giveaway-draw';
import { drawEventStatements } from '../../worker/webhooks/outbox';
import { uniqueEmail } from './helpers';
import { makeLead, TEST_TEXTS } from './mail-helpers';
import { addEndpoint, outboxRows, payloadOf, resetWebhooks } from './webhooks-helpers';

const T0 = Date.UTC(2026, 10, 2, 9, 0, 0);
const ctx = (atMs: number): RegistrationContext => ({
  now: new Date(atMs),
  phase: 'before',
  texts: TEST_TEXTS,
  ip: '203.0.113.7',
  userAgent: 'Testbrowser/1',
  giveawayOpen: true,
});

async function register(email: string, atMs: number, extra: Record<string, unknown> = {}) {
  const r = validateRegistration({ email, privacy: true, firstName: 'Erika', ...extra });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return registerLead(env.DB, env.LEAD_KEY_SECRET, r.value, ctx(atMs));
}

const confirm = (id: string, atMs: number) =>
  confirmLead(env.DB, id, { atMs, ip: '198.51.100.4', userAgent: 'Mailclient/2' }, atMs);

beforeEach(resetWebhooks);

describe('without a subscriber', () => {
  it('stores no event for a registration, confirmation, unsubscribe or erasure', async () => {
    const email = uniqueEmail('quiet');
    const { id } = await register(email, T0, { newsletter: true });
    await confirm(id, T0 + 1000);
    await unsubscribeLead(env.DB, id, T0 + 2000);
    await eraseAddress(env.DB, env.LEAD_KEY_SECRET, email, { atMs: T0 + 3000, by: 'visitor' });
    expect(await outboxRows()).toEqual([]);
  });

  it('stores nothing while the only endpoint is switched off, or listens to other events', async () => {
    const off = await addEndpoint(['lead.registered']);
    await setEndpointEnabled(env.DB, off.id, false, { nowMs: T0 });
    await addEndpoint(['giveaway.drawn']);
    await register(uniqueEmail('off'), T0);
    expect(await outboxRows()).toEqual([]);
  });
});

describe('lead.registered', () => {
  it('is stored once for a new lead, with address, first name and the consents given', async () => {
    await addEndpoint(['lead.registered']);
    const email = uniqueEmail('reg');
    const { id } = await register(email, T0, { giveaway: true });
    const p = await payloadOf(id, 'lead.registered');
    expect(p).toMatchObject({ type: 'lead.registered', timestamp: new Date(T0).toISOString(), version: 1 });
    expect(p.data).toMatchObject({ leadId: id, at: new Date(T0).toISOString(), email, firstName: 'Erika' });
    expect(p.data.consents).toEqual([
      { kind: 'privacy', status: 'pending', textVersion: TEST_TEXTS.version },
      { kind: 'giveaway', status: 'pending', textVersion: TEST_TEXTS.version },
    ]);
  });

  it('is not stored again when the same address registers a second time', async () => {
    await addEndpoint(['lead.registered']);
    const email = uniqueEmail('twice');
    const { id } = await register(email, T0);
    await register(email, T0 + 60_000, { newsletter: true });
    expect((await outboxRows(id)).map((r) => r.type)).toEqual(['lead.registered']);
  });
});

describe('lead.confirmed', () => {
  it('carries every confirmed consent with its proof of giving and of confirming', async () => {
    await addEndpoint(['lead.confirmed']);
    const { id } = await register(uniqueEmail('conf'), T0, { newsletter: true });
    expect(await outboxRows(id)).toEqual([]);
    await confirm(id, T0 + 5000);
    const p = await payloadOf(id, 'lead.confirmed');
    const newsletter = (p.data.consents as Record<string, unknown>[]).find((c) => c.kind === 'newsletter');
    expect(newsletter).toEqual({
      kind: 'newsletter',
      status: 'confirmed',
      textVersion: TEST_TEXTS.version,
      given: { at: new Date(T0).toISOString(), ip: '203.0.113.7', userAgent: 'Testbrowser/1' },
      confirmed: { at: new Date(T0 + 5000).toISOString(), ip: '198.51.100.4', userAgent: 'Mailclient/2' },
    });
    expect((p.data.consents as unknown[]).length).toBe(2);
  });

  it('is stored once for a double click, and again when a later consent is confirmed', async () => {
    await addEndpoint(['lead.confirmed']);
    const email = uniqueEmail('dbl');
    const { id } = await register(email, T0);
    await confirm(id, T0 + 1000);
    await confirm(id, T0 + 1500);
    expect((await outboxRows(id)).length).toBe(1);
    await register(email, T0 + 60_000, { newsletter: true });
    await confirm(id, T0 + 70_000);
    const rows = await outboxRows(id);
    expect(rows.length).toBe(2);
    const later = JSON.parse(rows[1].payload) as { data: { consents: { kind: string }[] } };
    expect(later.data.consents.map((c) => c.kind)).toEqual(['privacy', 'newsletter']);
  });
});

describe('lead.unsubscribed', () => {
  it('is stored once with lead id and address', async () => {
    await addEndpoint(['lead.unsubscribed']);
    const email = uniqueEmail('unsub');
    const { id } = await register(email, T0);
    await confirm(id, T0 + 1000);
    await unsubscribeLead(env.DB, id, T0 + 2000);
    await unsubscribeLead(env.DB, id, T0 + 3000);
    const p = await payloadOf(id, 'lead.unsubscribed');
    expect(p.data).toEqual({ leadId: id, at: new Date(T0 + 2000).toISOString(), email });
  });
});

describe('lead.erased', () => {
  it('carries lead id and address, read in the same batch that deletes the lead', async () => {
    await addEndpoint(['lead.erased']);
    const email = uniqueEmail('erase');
    const { id } = await register(email, T0);
    await eraseAddress(env.DB, env.LEAD_KEY_SECRET, email, { atMs: T0 + 1000, by: 'visitor' });
    expect(await env.DB.prepare('SELECT id FROM leads WHERE id = ?1').bind(id).first()).toBeNull();
    const p = await payloadOf(id, 'lead.erased');
    expect(p.data).toEqual({ leadId: id, at: new Date(T0 + 1000).toISOString(), email });
  });

  it('removes the undelivered events of the person, so only the erasure notice is left', async () => {
    await addEndpoint(['lead.registered', 'lead.confirmed', 'lead.erased']);
    const email = uniqueEmail('gone');
    const { id } = await register(email, T0, { newsletter: true });
    await confirm(id, T0 + 1000);
    expect((await outboxRows(id)).map((r) => r.type)).toEqual(['lead.registered', 'lead.confirmed']);
    await eraseAddress(env.DB, env.LEAD_KEY_SECRET, email, { atMs: T0 + 2000, by: 'ops' });
    expect((await outboxRows(id)).map((r) => r.type)).toEqual(['lead.erased']);
  });

  it('is written for each spelling of the mailbox that was registered', async () => {
    await addEndpoint(['lead.erased']);
    const base = uniqueEmail('spell');
    const plus = base.replace('@', '+news@');
    await register(base, T0);
    await register(plus, T0 + 10);
    await eraseAddress(env.DB, env.LEAD_KEY_SECRET, base, { atMs: T0 + 1000, by: 'ops' });
    const erased = (await outboxRows()).filter((r) => r.type === 'lead.erased');
    const emails = erased
      .map((r) => (JSON.parse(r.payload) as { data: { email: string } }).data.email)
      .sort();
    expect(emails).toEqual([base, plus].sort());
  });

  it('is written when only the Brevo connector is on', async () => {
    await saveBrevoSettings(
      env.DB,
      { enabled: true, listId: 7, attributes: DEFAULT_BREVO_ATTRIBUTES },
      { by: 'token:ops', nowMs: T0 },
    );
    const email = uniqueEmail('conn');
    const { id } = await register(email, T0);
    await eraseAddress(env.DB, env.LEAD_KEY_SECRET, email, { atMs: T0 + 1000, by: 'ops' });
    // The connector does not use lead.registered, so only the erasure is stored.
    expect((await outboxRows(id)).map((r) => r.type)).toEqual(['lead.erased']);
  });
});

describe('giveaway.drawn', () => {
  it('is stored by the draw itself, with the winner it picked', async () => {
    await addEndpoint(['giveaway.drawn']);
    const entrant = await makeLead('confirmed', 'draw', { giveaway: true });
    // A deadline of its own, so this file's other leads never compete.
    const deadline = new Date(Date.now() + 86_400_000).toISOString();
    await env.DB.prepare("UPDATE consents SET status = 'withdrawn' WHERE kind = 'giveaway' AND lead_id <> ?1")
      .bind(entrant.id)
      .run();
    const outcome = await drawWinners(env.DB, { winners: 1, by: 'token:ops', deadline });
    if (!outcome.ok) throw new Error(outcome.reason);
    const [row] = (await outboxRows()).filter((r) => r.type === 'giveaway.drawn');
    const p = JSON.parse(row.payload) as { data: { drawId: string; winners: string[]; redraw: boolean } };
    expect(p.data).toMatchObject({ drawId: outcome.draw.id, winners: [entrant.id], redraw: false });
    expect(JSON.stringify(p)).not.toContain(entrant.email);
  });

  it('names the winners by lead id only, written with the draw in one batch', async () => {
    await addEndpoint(['giveaway.drawn']);
    const winner = await leadId(uniqueEmail('win'), env.LEAD_KEY_SECRET);
    await env.DB.batch([
      env.DB.prepare(
        `INSERT INTO draws (id, series_id, seq, at, by, deadline, winners_requested, eligible_count, eligible_hash, winners)
         VALUES ('d1', 's1', 1, ?1, 'token:ops', '2026-12-01T00:00:00Z', 1, 12, 'abc', ?2)`,
      ).bind(T0, JSON.stringify([winner])),
      ...drawEventStatements(env.DB, 'd1', T0),
    ]);
    const [row] = (await outboxRows()).filter((r) => r.type === 'giveaway.drawn');
    expect(JSON.parse(row.payload)).toEqual({
      type: 'giveaway.drawn',
      timestamp: new Date(T0).toISOString(),
      version: 1,
      data: {
        drawId: 'd1',
        at: new Date(T0).toISOString(),
        seq: 1,
        winners: [winner],
        eligibleCount: 12,
        eligibleHash: 'abc',
        redraw: false,
      },
    });
  });
});
