import { env } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import {
  decodeMetadata,
  LEAD_PREFIX,
  leadId,
  METADATA_MAX_BYTES,
  metadataOf,
  registerLead,
  type LeadRecord,
  type RegistrationContext,
} from '../../worker/lead-store';
import { validateRegistration, type Registration } from '../../src/lib/registration';
import { uniqueEmail } from './helpers';

const ctx = (over: Partial<RegistrationContext> = {}): RegistrationContext => ({
  now: new Date(),
  phase: 'before',
  consentVersion: '2027-01',
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

describe('lead metadata', () => {
  it('stays within 1024 bytes for the largest registration the schema accepts', () => {
    // Longest address, a 50-character name of 3-byte letters, 200-character UTM values.
    const local = 'a'.repeat(64);
    const domain = `${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.de`;
    const input = valid({
      email: `${local}@${domain}`.slice(0, 254),
      firstName: 'ḀḁḂḃḄḅḆḇḈḉ'.repeat(5),
      privacy: true,
      giveaway: true,
      newsletter: true,
      utm_source: 'ẞ'.repeat(200),
      utm_medium: 'ẞ'.repeat(200),
      utm_campaign: 'ẞ'.repeat(200),
    });
    expect(input.email.length).toBeGreaterThan(240);
    const record: LeadRecord = {
      schema: 1,
      id: 'f'.repeat(64),
      email: input.email,
      firstName: input.firstName,
      status: 'confirmed',
      createdAt: new Date().toISOString(),
      updatedAt: new Date().toISOString(),
      confirmedAt: new Date().toISOString(),
      phase: 'before',
      consents: {
        privacy: { at: '', textVersion: '' },
        giveaway: { at: '', textVersion: '' },
        newsletter: { at: '', textVersion: '' },
      },
      source: {
        utm_source: input.utm_source,
        utm_medium: input.utm_medium,
        utm_campaign: input.utm_campaign,
      },
      proof: { registration: { at: '', ip: '', userAgent: '' } },
    };
    const bytes = new TextEncoder().encode(JSON.stringify(metadataOf(record))).length;
    expect(bytes).toBeLessThanOrEqual(METADATA_MAX_BYTES);
    // Letters outside the BMP: 12 bytes each once encoded, 25 of them fill the 50 UTF-16 units.
    const astral = { ...record, firstName: '𝒜'.repeat(25) };
    expect(valid({ email: input.email, firstName: astral.firstName, privacy: true }).firstName).toBe(
      astral.firstName,
    );
    const worst = metadataOf(astral);
    expect(new TextEncoder().encode(JSON.stringify(worst)).length).toBeLessThanOrEqual(METADATA_MAX_BYTES);
    expect(decodeMetadata(worst)).toMatchObject({ e: input.email, n: astral.firstName });
  });

  it('is stored in printable ASCII only and reads back exactly, umlauts, emoji, % and lone surrogates alike', async () => {
    // Metadata crosses an HTTP header inside workerd; a non-ASCII byte there made Miniflare
    // print the whole metadata, address included, to the terminal.
    const email = uniqueEmail('ascii-meta');
    const input = valid({
      email,
      firstName: 'Jürgen-Zoë',
      privacy: true,
      utm_source: 'Frühjahr 50% 🎉',
      utm_medium: 'news\u2028letter',
      utm_campaign: 'a\uD800b',
    });
    const { id } = await registerLead(env.LEADS, env.LEAD_KEY_SECRET, input, ctx());
    const { metadata } = await env.LEADS.getWithMetadata(LEAD_PREFIX + id);
    const stored = JSON.stringify(metadata);
    expect(stored).toMatch(/^[\x20-\x7e]+$/);
    expect(decodeMetadata(metadata)).toMatchObject({
      e: email,
      n: 'Jürgen-Zoë',
      us: 'Frühjahr 50% 🎉',
      um: 'news\u2028letter',
      uc: 'a\uFFFDb',
    });
  });

  it('reads metadata written before the encoding as it is, and refuses an encoding that does not decode', () => {
    expect(decodeMetadata({ e: 'a@b.de', n: 'Jürgen 100%' })).toEqual({ e: 'a@b.de', n: 'Jürgen 100%' });
    expect(decodeMetadata({ e: 'a@b.de', n: 'J%C3', x: 1 })).toBeNull();
    expect(decodeMetadata(null)).toBeNull();
  });
});

describe('leadId', () => {
  it('is the same for the same address in any case or padding, different for others', async () => {
    const secret = env.LEAD_KEY_SECRET;
    expect(await leadId(' Anna@Beispiel.DE ', secret)).toBe(await leadId('anna@beispiel.de', secret));
    expect(await leadId('anna@beispiel.de', secret)).not.toBe(await leadId('anna2@beispiel.de', secret));
    expect(await leadId('anna@beispiel.de', secret)).not.toBe(await leadId('anna@beispiel.de', `${secret}x`));
  });

  it('refuses to run without a proper secret', async () => {
    await expect(leadId('anna@beispiel.de', '')).rejects.toThrow(/LEAD_KEY_SECRET/);
  });
});

describe('registerLead', () => {
  it('turns a storm of 50 concurrent registrations of one address into one lead with the first consents', async () => {
    const email = uniqueEmail('storm');
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        registerLead(
          env.LEADS,
          env.LEAD_KEY_SECRET,
          valid({ email, privacy: true, giveaway: i === 0 }),
          ctx(),
        ),
      ),
    );
    expect(outcomes.filter((r) => r.outcome === 'created')).toHaveLength(1);
    const id = await leadId(email, env.LEAD_KEY_SECRET);
    const { keys } = await env.LEADS.list({ prefix: LEAD_PREFIX + id });
    expect(keys).toHaveLength(1);
    const record = await env.LEADS.get<LeadRecord>(LEAD_PREFIX + id, 'json');
    expect(record!.consents.giveaway).toBeDefined();
  });

  it('adds a consent given on a later repeat without touching the first ones', async () => {
    const email = uniqueEmail('later');
    const first = new Date(Date.now() - 10_000);
    await registerLead(env.LEADS, env.LEAD_KEY_SECRET, valid({ email, privacy: true }), ctx({ now: first }));
    const outcome = await registerLead(
      env.LEADS,
      env.LEAD_KEY_SECRET,
      valid({ email, privacy: true, newsletter: true }),
      ctx(),
    );
    expect(outcome.outcome).toBe('updated');
    const record = await env.LEADS.get<LeadRecord>(
      LEAD_PREFIX + (await leadId(email, env.LEAD_KEY_SECRET)),
      'json',
    );
    expect(record!.consents.privacy.at).toBe(first.toISOString());
    expect(record!.consents.newsletter).toBeDefined();
    expect(record!.createdAt).toBe(first.toISOString());
  });

  it('lets a visitor register again over an unreadable stored record instead of failing for ever', async () => {
    const email = uniqueEmail('corrupt');
    const id = await leadId(email, env.LEAD_KEY_SECRET);
    await env.LEADS.put(LEAD_PREFIX + id, '{"schema":1,"email":', { metadata: { broken: true } });
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const result = await registerLead(env.LEADS, env.LEAD_KEY_SECRET, valid({ email, privacy: true }), ctx());
    expect(result).toEqual({ id, outcome: 'created' });
    const record = await env.LEADS.get<LeadRecord>(LEAD_PREFIX + id, 'json');
    expect(record!.email).toBe(email);
    expect(warn.mock.calls.flat().join(' ')).toContain('lead.corrupt_record');
    warn.mockRestore();
  });

  it('refuses a giveaway entry after the deadline but keeps the registration', async () => {
    const email = uniqueEmail('late');
    await registerLead(
      env.LEADS,
      env.LEAD_KEY_SECRET,
      valid({ email, privacy: true, giveaway: true }),
      ctx({ giveawayOpen: false }),
    );
    const record = await env.LEADS.get<LeadRecord>(
      LEAD_PREFIX + (await leadId(email, env.LEAD_KEY_SECRET)),
      'json',
    );
    expect(record!.consents.giveaway).toBeUndefined();
    expect(record!.status).toBe('pending');
  });
});
