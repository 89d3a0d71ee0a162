import { env, SELF } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { STORE_TIMEOUT_MS } from '../../worker/routes/register';
import { SUPPRESSED_PREFIX } from '../../worker/lead-store';
import { leadsWith, postForm, postJson, registerWith, storedLead, uniqueEmail, uniqueIp } from './helpers';

afterEach(() => vi.restoreAllMocks());

describe('POST /api/register (JSON)', () => {
  it('stores a new lead as pending with consents, source and proof', async () => {
    const email = uniqueEmail('neu');
    const res = await postJson(
      {
        email: `  ${email.toUpperCase()} `,
        firstName: 'Jürgen',
        privacy: true,
        giveaway: true,
        newsletter: false,
        utm_source: 'newsletter',
        utm_campaign: 'launch',
        referrer: 'https://suche.example',
      },
      { 'user-agent': 'TestBrowser/1.0', referer: 'https://webinar.test/?utm_source=ignored' },
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    const { id, record, metadata } = await storedLead(email);
    expect(record).not.toBeNull();
    expect(record!.id).toBe(id);
    expect(record!.email).toBe(email);
    expect(record!.firstName).toBe('Jürgen');
    expect(record!.status).toBe('pending');
    expect(record!.consents.privacy.textVersion).toBe('2027-01');
    expect(record!.consents.giveaway).toBeDefined();
    expect(record!.consents.newsletter).toBeUndefined();
    expect(record!.source).toMatchObject({
      utm_source: 'newsletter',
      utm_campaign: 'launch',
      referrer: 'https://suche.example',
      landingPath: '/',
    });
    expect(record!.proof.registration.userAgent).toBe('TestBrowser/1.0');
    expect(record!.proof.registration.ip).toMatch(/^10\./);
    expect(metadata).toMatchObject({
      e: email,
      n: 'Jürgen',
      s: 'pending',
      g: 1,
      us: 'newsletter',
      uc: 'launch',
    });
    expect(metadata!.nl).toBeUndefined();
  });

  it('keys the lead by an HMAC of the address, never the address itself', async () => {
    const email = uniqueEmail('key');
    await postJson({ email, privacy: true });
    const { keys } = await env.LEADS.list({ prefix: 'lead:' });
    expect(keys.some((k) => k.name.includes(email))).toBe(false);
    const { id } = await storedLead(email);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(keys.some((k) => k.name === `lead:${id}`)).toBe(true);
  });

  it('accepts checkbox values sent as "on"', async () => {
    const email = uniqueEmail('on');
    const res = await postJson({ email, privacy: 'on', newsletter: 'on' });
    expect(res.status).toBe(200);
    const { record } = await storedLead(email);
    expect(record!.consents.newsletter).toBeDefined();
  });

  it('rejects a missing email with a German message and stores nothing', async () => {
    const before = (await env.LEADS.list({ prefix: 'lead:' })).keys.length;
    const res = await postJson({ privacy: true });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { ok: boolean; errors: Record<string, string> };
    expect(body.ok).toBe(false);
    expect(body.errors.email).toBe('Bitte geben Sie Ihre E-Mail-Adresse ein.');
    expect((await env.LEADS.list({ prefix: 'lead:' })).keys.length).toBe(before);
  });

  it('rejects an invalid email, a missing privacy consent and a first name with a link, per field', async () => {
    const res = await postJson({ email: 'kein-at-zeichen', firstName: 'Klick www.spam.ru', privacy: false });
    expect(res.status).toBe(400);
    const { errors } = (await res.json()) as { errors: Record<string, string> };
    expect(errors.email).toMatch(/gültige E-Mail-Adresse/);
    expect(errors.privacy).toMatch(/Datenschutzhinweise/);
    expect(errors.firstName).toMatch(/ohne Links/);
  });

  it('rejects a first name over 50 characters', async () => {
    const res = await postJson({ email: uniqueEmail(), firstName: 'A'.repeat(51), privacy: true });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: Record<string, string> }).errors.firstName).toMatch(
      /höchstens 50/,
    );
  });

  it('rejects malformed JSON and non-object JSON with 400, never 500', async () => {
    for (const body of ['{"email":', '[1,2]', 'null', '"text"', '42']) {
      const res = await postJson(body);
      expect(res.status, body).toBe(400);
      const json = (await res.json()) as { ok: boolean; errors: Record<string, string> };
      expect(json.ok).toBe(false);
      expect(json.errors.form).toBeTruthy();
    }
  });

  it('answers a filled honeypot like a success and stores nothing', async () => {
    const email = uniqueEmail('bot');
    const res = await postJson({ email, privacy: true, website: 'https://spam.example' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    expect((await storedLead(email)).record).toBeNull();
  });

  it('answers a repeat exactly like a new registration and keeps the first consents', async () => {
    const email = uniqueEmail('repeat');
    const first = await postJson({ email, privacy: true, giveaway: true, utm_source: 'erste' });
    const before = await storedLead(email);
    const second = await postJson({ email, privacy: true, giveaway: false, utm_source: 'zweite' });
    expect(second.status).toBe(first.status);
    expect(await second.json()).toEqual({ ok: true });
    const after = await storedLead(email);
    expect(after.record).toEqual(before.record);
    expect(after.record!.consents.giveaway).toBeDefined();
    expect(after.record!.source.utm_source).toBe('erste');
  });

  it('does not write a second time within the one-write-per-second window', async () => {
    const email = uniqueEmail('window');
    await postJson({ email, privacy: true });
    const put = vi.spyOn(env.LEADS, 'put');
    const res = await registerWith({}, { email, privacy: true, newsletter: true });
    expect(res.status).toBe(200);
    expect(put).not.toHaveBeenCalled();
  });

  it('stores nothing for a suppressed (erased) address but answers the same', async () => {
    const email = uniqueEmail('erased');
    const { id } = await storedLead(email);
    await env.LEADS.put(SUPPRESSED_PREFIX + id, '1');
    const res = await postJson({ email, privacy: true });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    expect((await storedLead(email)).record).toBeNull();
  });

  it('refuses an unknown content type with 415', async () => {
    const res = await SELF.fetch('https://webinar.test/api/register', {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'cf-connecting-ip': uniqueIp() },
      body: 'email=a@b.de',
    });
    expect(res.status).toBe(415);
    expect(((await res.json()) as { errors: Record<string, string> }).errors.form).toMatch(/Inhaltstyp/);
  });

  it('refuses a body over 8 KB with 413', async () => {
    const res = await postJson({ email: uniqueEmail(), privacy: true, firstName: 'x'.repeat(9000) });
    expect(res.status).toBe(413);
  });

  it('rate-limits one IP with 429 and Retry-After', async () => {
    const ip = uniqueIp();
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) {
      const res = await postJson({ email: uniqueEmail('rl'), privacy: true }, { 'cf-connecting-ip': ip });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.headers.get('retry-after')).toBe('60');
        expect(((await res.json()) as { errors: Record<string, string> }).errors.form).toMatch(/Zu viele/);
        break;
      }
    }
    expect(statuses).toContain(429);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(10);
  });

  it('still registers when the rate limiter itself fails (fails open)', async () => {
    const email = uniqueEmail('limiter');
    const broken = { limit: () => Promise.reject(new Error('limiter down')) };
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await registerWith({ REGISTER_LIMITER: broken }, { email, privacy: true });
    expect(res.status).toBe(200);
    expect((await storedLead(email)).record).not.toBeNull();
    expect(errors.mock.calls.flat().join(' ')).toContain('register.ratelimit_failed');
  });

  it('answers 503 with Retry-After when KV fails, and nothing is written', async () => {
    const email = uniqueEmail('kvdown');
    const failingLeads = leadsWith('put', () => Promise.reject(new Error('KV put failed')));
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await registerWith({ LEADS: failingLeads }, { email, privacy: true });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(((await res.json()) as { errors: Record<string, string> }).errors.form).toMatch(/erneut/);
    expect((await storedLead(email)).record).toBeNull();
  });
  it('answers 503 when a KV write hangs, instead of keeping the visitor waiting', async () => {
    const email = uniqueEmail('kvslow');
    const hangingLeads = leadsWith('put', () => new Promise(() => {}));
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const started = Date.now();
    const res = await registerWith({ LEADS: hangingLeads }, { email, privacy: true });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(Date.now() - started).toBeLessThan(STORE_TIMEOUT_MS + 2000);
    expect((await storedLead(email)).record).toBeNull();
  }, 10_000);
});

describe('POST /api/register (plain form, no JavaScript)', () => {
  it('redirects to the thank-you page with 303 and stores the lead', async () => {
    const email = uniqueEmail('nojs');
    const res = await postForm(
      { email, firstName: 'Anna', privacy: 'on', giveaway: 'on', website: '' },
      { referer: 'https://webinar.test/?utm_source=flyer&utm_medium=print' },
    );
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/danke');
    const { record } = await storedLead(email);
    expect(record!.consents.giveaway).toBeDefined();
    expect(record!.source).toMatchObject({ utm_source: 'flyer', utm_medium: 'print', landingPath: '/' });
  });

  it('re-renders the page with the input kept and German errors on bad input', async () => {
    const res = await postForm({
      email: 'anna@',
      firstName: '"><script>alert(1)</script>',
      newsletter: 'on',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain('value="anna@"');
    expect(html).toContain('Bitte geben Sie eine gültige E-Mail-Adresse ein');
    expect(html).toContain('Bitte bestätigen Sie, dass Sie die Datenschutzhinweise gelesen haben.');
    expect(html).toContain('aria-invalid="true"');
    // The visitor's input is escaped: it cannot leave its attribute or become markup.
    expect(html).not.toContain('"><script>alert(1)');
    expect(html).toMatch(/id="reg-firstName"[^>]*value="&quot;(>|&gt;)(<|&lt;)script/);
    expect(html).toMatch(/id="reg-newsletter"[^>]*checked/);
  });

  it('re-renders with 503 and the input kept when KV fails', async () => {
    const failingLeads = leadsWith('put', () => Promise.reject(new Error('KV down')));
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await registerWith(
      { LEADS: failingLeads },
      { email: 'kv.down@beispiel.de', privacy: 'on' },
      'form',
    );
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    const html = await res.text();
    expect(html).toContain('value="kv.down@beispiel.de"');
    expect(html).toContain('Ihre Anmeldung konnte gerade nicht gespeichert werden');
  });
});
