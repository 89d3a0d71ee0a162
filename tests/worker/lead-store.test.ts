/** The D1 lead store, straight against the binding: keys, consents, resends, erasure. */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { validateRegistration, type Registration } from '../../src/lib/registration';
import { normaliseEmail } from '../../src/lib/email';
import { canonicalMailbox, leadId, mailboxKey } from '../../worker/store/lead-keys';
import {
  activeConsent,
  CONFIRM_RESEND_INTERVAL_MS,
  confirmLead,
  eraseAddress,
  eraseLeadById,
  getLead,
  PENDING_CONSENT_TTL_MS,
  registerLead,
  unsubscribeLead,
  WELCOME_RESEND_INTERVAL_MS,
  type RegistrationContext,
} from '../../worker/store/lead-store';
import { claimSend, markSent } from '../../worker/store/mail-sends';
import { uniqueEmail } from './helpers';
import { TEST_TEXTS } from './mail-helpers';

const T0 = Date.UTC(2026, 10, 2, 9, 0, 0);

const ctx = (atMs: number, over: Partial<RegistrationContext> = {}): RegistrationContext => ({
  now: new Date(atMs),
  phase: 'before',
  texts: TEST_TEXTS,
  ip: '203.0.113.7',
  userAgent: 'Test',
  giveawayOpen: true,
  landingPath: '/',
  ...over,
});

function valid(input: Record<string, unknown>): Registration {
  const r = validateRegistration(input);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}

const register = (email: string, atMs: number, extra: Record<string, unknown> = {}, over = {}) =>
  registerLead(env.DB, env.LEAD_KEY_SECRET, valid({ email, privacy: true, ...extra }), ctx(atMs, over));

/** Marks the mail a registration asked for as sent at `atMs`, as the consumer would. */
async function send(id: string, mail: { kind: string; ref: string } | null, atMs: number) {
  if (!mail) throw new Error('no mail requested');
  expect(await claimSend(env.DB, { leadId: id, ...mail }, atMs)).toBe('claimed');
  await markSent(env.DB, { leadId: id, ...mail }, atMs);
}

describe('lead keys', () => {
  it('give one lead id for one address in any case or padding, another for other addresses', async () => {
    const a = await leadId('Max.Muster@Beispiel.DE ', env.LEAD_KEY_SECRET);
    expect(a).toBe(await leadId('max.muster@beispiel.de', env.LEAD_KEY_SECRET));
    expect(a).not.toBe(await leadId('max.muster2@beispiel.de', env.LEAD_KEY_SECRET));
    expect(a).toMatch(/^[0-9a-f]{64}$/);
  });

  it('write the domain in punycode and the local part in NFC', () => {
    expect(normaliseEmail('Info@Müller-Bau.de')).toBe('info@xn--mller-bau-q9a.de');
    expect(normaliseEmail('jo\u0308rg@beispiel.de')).toBe('jörg@beispiel.de');
  });

  it('fold +tags everywhere and dots for Gmail into one mailbox, but keep dots elsewhere', async () => {
    expect(canonicalMailbox('Max.Muster+webinar@googlemail.com')).toBe('maxmuster@gmail.com');
    expect(canonicalMailbox('max.muster+a@beispiel.de')).toBe('max.muster@beispiel.de');
    expect(await mailboxKey('m.a.x@gmail.com', env.LEAD_KEY_SECRET)).toBe(
      await mailboxKey('max+x@googlemail.com', env.LEAD_KEY_SECRET),
    );
    expect(await mailboxKey('m.ax@beispiel.de', env.LEAD_KEY_SECRET)).not.toBe(
      await mailboxKey('max@beispiel.de', env.LEAD_KEY_SECRET),
    );
  });

  it('refuse to run without a proper secret', async () => {
    await expect(leadId('a@b.de', 'short')).rejects.toThrow(/LEAD_KEY_SECRET/);
  });
});

describe('registerLead', () => {
  it('turns 50 concurrent registrations of one address into one lead with one consent of each kind', async () => {
    const email = uniqueEmail('storm');
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        register(email, T0 + i, {
          newsletter: i % 2 === 0,
          giveaway: i % 3 === 0,
          firstName: `Name${'a'.repeat(i % 5)}`,
        }),
      ),
    );
    expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1);
    const lead = (await getLead(env.DB, results[0].id))!;
    for (const kind of ['privacy', 'newsletter', 'giveaway'] as const)
      expect(lead.consents.filter((c) => c.kind === kind)).toHaveLength(1);
    // The first name is the one of the registration that created the lead.
    const creator = results.findIndex((r) => r.outcome === 'created');
    expect(lead.firstName).toBe(`Name${'a'.repeat(creator % 5)}`);
  });

  it('asks for a confirmation naming new consents on a repeat, and only once for them', async () => {
    const email = uniqueEmail('added');
    const first = await register(email, T0);
    expect(first).toMatchObject({ outcome: 'created', mail: { kind: 'confirm' } });
    const added = await register(email, T0 + 60_000, { newsletter: true });
    expect(added.outcome).toBe('consents_added');
    expect(added.mail?.kind).toBe('confirm');
    expect(added.mail?.ref).not.toBe(first.mail?.ref);
    const again = await register(email, T0 + 61_000, { newsletter: true });
    expect(again.outcome).toBe('repeat');
  });

  it('resends the confirmation to a pending repeat only after 10 minutes', async () => {
    const email = uniqueEmail('resend');
    const first = await register(email, T0);
    await send(first.id, first.mail, T0);
    expect((await register(email, T0 + CONFIRM_RESEND_INTERVAL_MS - 1000)).mail).toBeNull();
    expect((await register(email, T0 + CONFIRM_RESEND_INTERVAL_MS)).mail?.kind).toBe('confirm');
  });

  it('sends a confirmed person the welcome mail again on a repeat, at most once an hour', async () => {
    const email = uniqueEmail('lostlink');
    const first = await register(email, T0);
    await confirmLead(env.DB, first.id, { atMs: T0 + 1000, ip: '198.51.100.1', userAgent: 'UA' }, T0);
    const repeat = await register(email, T0 + 5000);
    expect(repeat.mail?.kind).toBe('welcome');
    await send(first.id, repeat.mail, T0 + 5000);
    expect((await register(email, T0 + 6000)).mail).toBeNull();
    expect((await register(email, T0 + 5000 + WELCOME_RESEND_INTERVAL_MS)).mail?.kind).toBe('welcome');
  });

  it('replaces a pending consent whose link has expired with a fresh one on a repeat', async () => {
    const email = uniqueEmail('stale');
    const first = await register(email, T0);
    const later = T0 + PENDING_CONSENT_TTL_MS + 60_000;
    const again = await register(email, later);
    expect(again).toMatchObject({ outcome: 'consents_added', mail: { kind: 'confirm' } });
    const lead = (await getLead(env.DB, first.id))!;
    expect(lead.consents.map((c) => [c.status, c.given.at])).toEqual([
      ['withdrawn', new Date(T0).toISOString()],
      ['pending', new Date(later).toISOString()],
    ]);
    // Still within the link's lifetime: the pending consent stays as it is.
    expect((await register(email, later + 1000)).outcome).toBe('repeat');
  });

  it('refuses a giveaway entry after the deadline but keeps the registration', async () => {
    const email = uniqueEmail('late');
    const r = await register(email, T0, { giveaway: true }, { giveawayOpen: false });
    const lead = (await getLead(env.DB, r.id))!;
    expect(lead.status).toBe('pending');
    expect(activeConsent(lead, 'giveaway')).toBeUndefined();
  });

  it('records the consent text, its version and the config version shown', async () => {
    const email = uniqueEmail('texts');
    const texts = { ...TEST_TEXTS, version: 'v-9', newsletter: 'Ja, Newsletter (v9)', configVersion: 9 };
    const r = await register(email, T0, { newsletter: true }, { texts });
    const c = activeConsent((await getLead(env.DB, r.id))!, 'newsletter')!;
    expect(c).toMatchObject({ textVersion: 'v-9', text: 'Ja, Newsletter (v9)', configVersion: 9 });
    expect(c.given.at).toBe(new Date(T0).toISOString());
  });
});

describe('confirm, unsubscribe and come back', () => {
  it('confirms only consents given before the link was sent', async () => {
    const email = uniqueEmail('window');
    const r = await register(email, T0);
    await register(email, T0 + 10_000, { newsletter: true });
    const out = await confirmLead(env.DB, r.id, { atMs: T0 + 20_000, ip: 'x', userAgent: 'y' }, T0 + 5000);
    expect(out).toMatchObject({ outcome: 'confirmed', kinds: ['privacy'] });
    const lead = (await getLead(env.DB, r.id))!;
    expect(activeConsent(lead, 'newsletter')?.status).toBe('pending');
  });

  it('a registration after unsubscribing starts a pending consent; confirming it resumes mails', async () => {
    const email = uniqueEmail('back');
    const r = await register(email, T0);
    await confirmLead(env.DB, r.id, { atMs: T0 + 1000, ip: 'a', userAgent: 'b' }, T0);
    expect(await unsubscribeLead(env.DB, r.id, T0 + 2000)).toBe('unsubscribed');
    const back = await register(email, T0 + 3000);
    expect(back).toMatchObject({ outcome: 'consents_added', mail: { kind: 'confirm' } });
    expect((await getLead(env.DB, r.id))!.status).toBe('unsubscribed');
    const out = await confirmLead(env.DB, r.id, { atMs: T0 + 4000, ip: 'c', userAgent: 'd' }, T0 + 3500);
    expect(out.outcome).toBe('confirmed');
    const lead = (await getLead(env.DB, r.id))!;
    expect(lead.status).toBe('confirmed');
    expect(lead.consents.filter((c) => c.kind === 'privacy').map((c) => c.status)).toEqual([
      'withdrawn',
      'confirmed',
    ]);
  });

  it('keeps the giveaway entry when the person unsubscribes from mails', async () => {
    const email = uniqueEmail('keepentry');
    const r = await register(email, T0, { giveaway: true });
    await confirmLead(env.DB, r.id, { atMs: T0 + 1000, ip: 'a', userAgent: 'b' }, T0);
    await unsubscribeLead(env.DB, r.id, T0 + 2000);
    expect(activeConsent((await getLead(env.DB, r.id))!, 'giveaway')?.status).toBe('confirmed');
  });
});

describe('mail claims', () => {
  it('refuse a claim for a lead that no longer exists and write nothing for it', async () => {
    const ghost = 'd'.repeat(64);
    expect(await claimSend(env.DB, { leadId: ghost, kind: 'confirm', ref: 'new' }, T0)).toBe('gone');
    const row = await env.DB.prepare('SELECT COUNT(*) AS n FROM mail_sends WHERE lead_id = ?1')
      .bind(ghost)
      .first<{ n: number }>();
    expect(row!.n).toBe(0);
  });
});

describe('erasure', () => {
  it('deletes every row of the person and keeps only the keyed mailbox hash', async () => {
    const email = `erase.me.${Date.now()}@gmail.com`;
    const a = await register(email, T0, { newsletter: true });
    const b = await register(email.replace('@', '+promo@'), T0 + 1);
    await send(a.id, a.mail, T0);
    expect(await eraseLeadById(env.DB, a.id, { atMs: T0 + 5, by: 'visitor' })).toEqual({ erased: 2 });
    for (const [table, column] of [
      ['leads', 'id'],
      ['consents', 'lead_id'],
      ['lead_events', 'lead_id'],
      ['mail_sends', 'lead_id'],
    ]) {
      const row = await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE ${column} IN (?1, ?2)`)
        .bind(a.id, b.id)
        .first<{ n: number }>();
      expect(row!.n, table).toBe(0);
    }
    const dump = JSON.stringify((await env.DB.prepare('SELECT * FROM suppression').all()).results);
    expect(dump).not.toContain('erase.me');
  });

  it('answers the same work for an unknown address', async () => {
    expect(
      await eraseAddress(env.DB, env.LEAD_KEY_SECRET, uniqueEmail('nobody'), { atMs: T0, by: 'ops' }),
    ).toEqual({
      erased: 0,
    });
  });
});

describe('double submits', () => {
  it('ask for one confirmation mail, even before any consumer has claimed it', async () => {
    const email = uniqueEmail('doubletap');
    const [a, b] = await Promise.all([register(email, T0), register(email, T0 + 5)]);
    const mails = [a.mail, b.mail].filter(Boolean);
    expect(mails).toEqual([{ kind: 'confirm', ref: 'new' }]);
    // A quick repeat a minute later, the first mail still in the queue: nothing new either.
    expect((await register(email, T0 + 60_000)).mail).toBeNull();
  });
});
