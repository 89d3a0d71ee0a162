import { env, SELF } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_CONFIG } from '../../worker/config-store';
import { forgetAttackMode, setAttackMode } from '../../worker/abuse/attack-mode';
import { formStamp, QUESTIONS } from '../../worker/abuse/form-stamp';
import { STORE_TIMEOUT_MS } from '../../worker/routes/register';
import { mailboxKey } from '../../worker/store/lead-keys';
import { activeConsent, eraseAddress } from '../../worker/store/lead-store';
import {
  dbWith,
  leadCount,
  postForm,
  postJson,
  registerWith,
  storedLead,
  uniqueEmail,
  uniqueIp,
} from './helpers';

afterEach(() => vi.restoreAllMocks());

const FORM = DEFAULT_CONFIG.form;

describe('POST /api/register (JSON)', () => {
  it('stores a new lead as pending with pending consents, their texts, source and proof', async () => {
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
    const { id, lead } = await storedLead(email);
    expect(lead).not.toBeNull();
    expect(lead!.id).toBe(id);
    expect(lead!.email.toLowerCase()).toBe(email);
    expect(lead!.firstName).toBe('Jürgen');
    expect(lead!.status).toBe('pending');
    const privacy = activeConsent(lead!, 'privacy')!;
    expect(privacy).toMatchObject({
      status: 'pending',
      textVersion: FORM.consentVersion,
      text: FORM.privacyLabel,
    });
    expect(privacy.given.userAgent).toBe('TestBrowser/1.0');
    expect(privacy.given.ip).toMatch(/^10\./);
    expect(activeConsent(lead!, 'giveaway')).toMatchObject({ status: 'pending', text: FORM.giveawayLabel });
    expect(activeConsent(lead!, 'newsletter')).toBeUndefined();
    expect(lead!.source).toMatchObject({
      utm_source: 'newsletter',
      utm_campaign: 'launch',
      referrer: 'https://suche.example',
      landingPath: '/',
    });
  });

  it('keys the lead by an HMAC of the address, never the address itself', async () => {
    const email = uniqueEmail('key');
    await postJson({ email, privacy: true });
    const { id, lead } = await storedLead(email);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(lead!.id).toBe(id);
    expect(lead!.mailbox).toMatch(/^[0-9a-f]{64}$/);
    expect(lead!.mailbox).not.toBe(id);
  });

  it('accepts checkbox values sent as "on"', async () => {
    const email = uniqueEmail('on');
    const res = await postJson({ email, privacy: 'on', newsletter: 'on' });
    expect(res.status).toBe(200);
    const { lead } = await storedLead(email);
    expect(activeConsent(lead!, 'newsletter')?.status).toBe('pending');
  });

  it('rejects a missing email with a German message and stores nothing', async () => {
    const before = await leadCount();
    const res = await postJson({ privacy: true });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { ok: boolean; errors: Record<string, string> };
    expect(body.ok).toBe(false);
    expect(body.errors.email).toBe('Bitte geben Sie Ihre E-Mail-Adresse ein.');
    expect(await leadCount()).toBe(before);
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
    expect((await storedLead(email)).lead).toBeNull();
  });

  it('answers a repeat exactly like a new registration and keeps the first consents', async () => {
    const email = uniqueEmail('repeat');
    const first = await postJson({ email, privacy: true, giveaway: true, utm_source: 'erste' });
    const before = await storedLead(email);
    const second = await postJson({ email, privacy: true, giveaway: false, utm_source: 'zweite' });
    expect(second.status).toBe(first.status);
    expect(await second.json()).toEqual({ ok: true });
    const after = await storedLead(email);
    expect(after.lead).toEqual(before.lead);
    expect(activeConsent(after.lead!, 'giveaway')).toBeDefined();
    expect(after.lead!.source.utm_source).toBe('erste');
  });

  it('never overwrites the first name and adds a new consent only as pending', async () => {
    const email = uniqueEmail('forge');
    await postJson({ email, firstName: 'Anna', privacy: true });
    const { id } = await storedLead(email);
    await env.DB.prepare("UPDATE consents SET status = 'confirmed', confirmed_at = 1 WHERE lead_id = ?1")
      .bind(id)
      .run();
    await env.DB.prepare("UPDATE leads SET status = 'confirmed' WHERE id = ?1").bind(id).run();
    const res = await postJson({
      email,
      firstName: 'Mallory',
      privacy: true,
      newsletter: true,
      giveaway: true,
    });
    expect(res.status).toBe(200);
    const { lead } = await storedLead(email);
    expect(lead!.firstName).toBe('Anna');
    expect(lead!.status).toBe('confirmed');
    expect(activeConsent(lead!, 'newsletter')?.status).toBe('pending');
    expect(activeConsent(lead!, 'privacy')?.status).toBe('confirmed');
  });

  it('keeps both consents of two simultaneous submits of one address, and answers both alike', async () => {
    const email = uniqueEmail('double');
    const [a, b] = await Promise.all([
      postJson({ email, privacy: true, newsletter: true }),
      postJson({ email, privacy: true, giveaway: true }),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    const { lead } = await storedLead(email);
    expect(activeConsent(lead!, 'newsletter')).toBeDefined();
    expect(activeConsent(lead!, 'giveaway')).toBeDefined();
    expect(lead!.consents.filter((c) => c.kind === 'privacy')).toHaveLength(1);
  });

  it('stores nothing for an erased address, in any spelling of its mailbox, but answers the same', async () => {
    const email = `erased.${Date.now()}@gmail.com`;
    await postJson({ email, privacy: true });
    await eraseAddress(env.DB, env.LEAD_KEY_SECRET, email, { atMs: Date.now(), by: 'ops' });
    for (const variant of [email, email.replace('erased.', 'erased').replace('@', '+tag@')]) {
      const res = await postJson({ email: variant, privacy: true });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true });
      expect((await storedLead(variant)).lead).toBeNull();
    }
    const row = await env.DB.prepare('SELECT COUNT(*) AS n FROM suppression WHERE mailbox = ?1')
      .bind(await mailboxKey(email, env.LEAD_KEY_SECRET))
      .first<{ n: number }>();
    expect(row!.n).toBe(1);
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
    expect((await storedLead(email)).lead).not.toBeNull();
    expect(errors.mock.calls.flat().join(' ')).toContain('register.ratelimit_failed');
  });

  it('answers 503 with Retry-After when D1 fails, and nothing is written', async () => {
    const email = uniqueEmail('dbdown');
    const failingDb = dbWith('batch', () => Promise.reject(new Error('D1_ERROR: storage unavailable')));
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await registerWith({ DB: failingDb }, { email, privacy: true });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(((await res.json()) as { errors: Record<string, string> }).errors.form).toMatch(/erneut/);
    expect((await storedLead(email)).lead).toBeNull();
  });

  it('answers 503 when a D1 write hangs, instead of keeping the visitor waiting', async () => {
    const email = uniqueEmail('dbslow');
    const hangingDb = dbWith('batch', () => new Promise(() => {}));
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const started = Date.now();
    const res = await registerWith({ DB: hangingDb }, { email, privacy: true });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(Date.now() - started).toBeLessThan(STORE_TIMEOUT_MS + 2000);
    expect((await storedLead(email)).lead).toBeNull();
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
    const { lead } = await storedLead(email);
    expect(activeConsent(lead!, 'giveaway')).toBeDefined();
    expect(lead!.source).toMatchObject({ utm_source: 'flyer', utm_medium: 'print', landingPath: '/' });
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

  it('re-renders with 503 and the input kept when D1 fails', async () => {
    const failingDb = dbWith('batch', () => Promise.reject(new Error('D1 down')));
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await registerWith(
      { DB: failingDb },
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

describe('POST /api/register (plain form): proof of a rendered, read form', () => {
  const raw = (body: string) =>
    SELF.fetch('https://webinar.test/api/register', {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': uniqueIp() },
      body,
    });

  it('stores nothing for a post without the form’s hidden fields and offers the form again', async () => {
    const email = uniqueEmail('nohidden');
    const res = await raw(new URLSearchParams({ email, privacy: 'on' }).toString());
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).toContain('Bitte senden Sie das Formular noch einmal ab.');
    expect(html).toContain(`value="${email}"`);
    expect(html).toMatch(/name="renderedAt" value="\d{13}\.-\.[0-9a-f]{32}"/);
    expect((await storedLead(email)).lead).toBeNull();
  });

  it('sends a post back that came less than 3 seconds after the page was rendered', async () => {
    const email = uniqueEmail('tooquick');
    const renderedAt = await formStamp(env.LEAD_KEY_SECRET, Date.now() - 1000, null);
    const res = await raw(
      new URLSearchParams({ email, privacy: 'on', renderedAt, configVersion: '0' }).toString(),
    );
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('Bitte senden Sie das Formular noch einmal ab.');
    expect((await storedLead(email)).lead).toBeNull();
  });

  it('asks the question in attack mode and stores only with the right answer', async () => {
    await setAttackMode(env.DB, { on: true, by: 'ops', since: Date.now() });
    try {
      const page = await (await SELF.fetch('https://webinar.test/')).text();
      const stamp = /name="renderedAt" value="([^"]+)"/.exec(page)![1];
      const q = Number(stamp.split('.')[1]);
      expect(page).toContain(QUESTIONS[q].text);
      expect(page).toMatch(/<label for="reg-answer"/);
      const renderedAt = await formStamp(env.LEAD_KEY_SECRET, Date.now() - 5000, q);
      const wrong = uniqueEmail('wrong');
      const fields = (email: string, answer: string) =>
        new URLSearchParams({ email, privacy: 'on', renderedAt, configVersion: '0', answer }).toString();
      const refused = await raw(fields(wrong, 'keine Ahnung'));
      expect(refused.status).toBe(400);
      expect(await refused.text()).toContain('Kontrollfrage');
      expect((await storedLead(wrong)).lead).toBeNull();
      const right = uniqueEmail('right');
      const ok = await raw(fields(right, QUESTIONS[q].answers[0]));
      expect(ok.status).toBe(303);
      expect((await storedLead(right)).lead).not.toBeNull();
    } finally {
      await setAttackMode(env.DB, { on: false, by: 'ops', since: Date.now() });
      forgetAttackMode();
    }
  });
});
