import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../worker/app';
import { activeConsent, getLead } from '../../worker/store/lead-store';
import { signToken, TOKEN_TTL_S, type TokenPurpose } from '../../worker/tokens';
import { solvedChallenge, uniqueEmail, uniqueIp } from './helpers';
import { fakeQueue, makeLead } from './mail-helpers';

const BASE = 'https://webinar.test';

async function tokenFor(purpose: TokenPurpose, id: string, nowMs = Date.now()) {
  const lead = await getLead(env.DB, id);
  return signToken(env.MAIL_TOKEN_SECRET, purpose, id, lead!.createdAt, nowMs);
}

function post(path: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return SELF.fetch(BASE + path, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

/** Pretends a confirmation mail was claimed `agoMs` ago (what a sent mail leaves in D1). */
async function confirmationSentAgo(id: string, agoMs: number) {
  const at = Date.now() - agoMs;
  await env.DB.prepare(
    "INSERT INTO mail_sends (lead_id, kind, ref, claimed_at, claim_until, sent_at) VALUES (?1, 'confirm', ?2, ?3, ?3, ?3)",
  )
    .bind(id, `t${at}`, at)
    .run();
}

describe('GET /bestaetigen', () => {
  it('shows a button and confirms nothing by itself (mail scanners prefetch links)', async () => {
    const { id } = await makeLead('pending');
    const res = await SELF.fetch(`${BASE}/bestaetigen?t=${await tokenFor('confirm', id)}`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toMatch(/<form[^>]*method="post"[^>]*action="\/bestaetigen"/);
    expect(html).toMatch(/<input[^>]*type="hidden"[^>]*name="t"/);
    expect(html).toContain('Anmeldung jetzt bestätigen');
    expect(html).toContain('noindex');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('referrer-policy')).toBe('strict-origin-when-cross-origin');
    expect((await getLead(env.DB, id))!.status).toBe('pending');
  });
});

describe('POST /bestaetigen', () => {
  it('confirms, records IP and user agent as proof, offers the calendar and queues the welcome mail', async () => {
    const { id } = await makeLead('pending');
    const queue = fakeQueue();
    const t = await tokenFor('confirm', id);
    const res = await app.request(
      '/bestaetigen',
      {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'cf-connecting-ip': '203.0.113.7',
          'user-agent': 'Bestaetigungs-Browser/1.0',
        },
        body: `t=${t}`,
      },
      { ...env, MAIL_QUEUE: queue.binding },
    );
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('Vielen Dank – Ihre Anmeldung ist bestätigt');
    expect(html).toContain('Google Kalender');
    expect(html).toContain('href="/webinar.ics"');
    const lead = await getLead(env.DB, id);
    expect(lead!.status).toBe('confirmed');
    const privacy = activeConsent(lead!, 'privacy')!;
    expect(privacy.status).toBe('confirmed');
    expect(privacy.confirmed).toMatchObject({ ip: '203.0.113.7', userAgent: 'Bestaetigungs-Browser/1.0' });
    expect(privacy.given.ip).toBe('192.0.2.1');
    expect(privacy.confirmed!.at).toBe(lead!.confirmedAt);
    expect(queue.messages).toEqual([expect.objectContaining({ type: 'mail', kind: 'welcome', leadId: id })]);
  });

  it('shows success again on a double click, changes nothing and asks for one welcome mail', async () => {
    const { id } = await makeLead('pending');
    const t = await tokenFor('confirm', id);
    const queue = fakeQueue();
    const click = (ip: string) =>
      app.request(
        '/bestaetigen',
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': ip },
          body: `t=${t}`,
        },
        { ...env, MAIL_QUEUE: queue.binding },
      );
    const first = await click('203.0.113.8');
    const stored = await getLead(env.DB, id);
    const again = await click('198.51.100.9');
    for (const res of [first, again]) {
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('Vielen Dank – Ihre Anmeldung ist bestätigt');
    }
    expect(await getLead(env.DB, id)).toEqual(stored);
    expect(queue.messages).toEqual([expect.objectContaining({ kind: 'welcome', leadId: id })]);
  });

  it('confirms once when two devices click at the same moment: one welcome job', async () => {
    const { id } = await makeLead('pending');
    const t = await tokenFor('confirm', id);
    const queue = fakeQueue();
    const click = () =>
      app.request(
        '/bestaetigen',
        { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `t=${t}` },
        { ...env, MAIL_QUEUE: queue.binding },
      );
    const results = await Promise.all([click(), click(), click()]);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(queue.messages.filter((m) => (m as { kind: string }).kind === 'welcome')).toHaveLength(1);
  });

  it.each([
    ['a malformed token', async () => 'kaputt', 400, 'Dieser Link ist unvollständig'],
    [
      'a forged token',
      async (id: string) =>
        signToken('a-forgers-secret-0123456789abcdef', 'confirm', id, new Date().toISOString()),
      400,
      'Dieser Link ist ungültig',
    ],
    [
      'an expired token',
      async (id: string) => tokenFor('confirm', id, Date.now() - TOKEN_TTL_S.confirm * 1000 - 1000),
      410,
      'Dieser Link ist abgelaufen',
    ],
    [
      'an erase token',
      async (id: string) => tokenFor('erase', id),
      400,
      'Dieser Link passt nicht zu dieser Seite',
    ],
    [
      'a token for another registration',
      async (id: string) => signToken(env.MAIL_TOKEN_SECRET, 'confirm', id, '2020-01-01T00:00:00.000Z'),
      404,
      'Diese Anmeldung gibt es nicht mehr',
    ],
  ])('refuses %s with a German page and leaves the lead pending', async (_name, make, status, heading) => {
    const { id } = await makeLead('pending');
    const before = await getLead(env.DB, id);
    const t = await make(id);
    for (const res of [
      await SELF.fetch(`${BASE}/bestaetigen?t=${encodeURIComponent(t)}`),
      await post('/bestaetigen', { t }),
    ]) {
      expect(res.status).toBe(status);
      expect(await res.text()).toContain(heading);
    }
    expect(await getLead(env.DB, id)).toEqual(before);
  });

  it('refuses a request without a token', async () => {
    const res = await post('/bestaetigen', {});
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('Dieser Link ist unvollständig');
  });

  it('does not re-subscribe an unsubscribed lead through an old confirmation link', async () => {
    const { id } = await makeLead('unsubscribed');
    const res = await post('/bestaetigen', { t: await tokenFor('confirm', id) });
    expect(await res.text()).toContain('Sie sind bereits abgemeldet');
    expect((await getLead(env.DB, id))!.status).toBe('unsubscribed');
  });
});

describe('unsubscribe', () => {
  it('shows a button on GET and unsubscribes on the one-click POST a mail client sends', async () => {
    const { id } = await makeLead('confirmed');
    const t = await tokenFor('unsubscribe', id);
    const page = await SELF.fetch(`${BASE}/abmelden?t=${t}`);
    expect(await page.text()).toContain('Jetzt abmelden');
    expect((await getLead(env.DB, id))!.status).toBe('confirmed');

    const oneClick = await post(`/abmelden?t=${t}`, { 'List-Unsubscribe': 'One-Click' });
    expect(oneClick.status).toBe(200);
    expect(await oneClick.text()).toContain('Sie sind abgemeldet');
    expect((await getLead(env.DB, id))!.status).toBe('unsubscribed');
    expect(activeConsent((await getLead(env.DB, id))!, 'privacy')).toBeUndefined();

    const again = await post('/abmelden', { t });
    expect(await again.text()).toContain('Sie sind bereits abgemeldet');
  });

  it('refuses a confirmation token', async () => {
    const { id } = await makeLead('confirmed');
    const res = await post('/abmelden', { t: await tokenFor('confirm', id) });
    expect(res.status).toBe(400);
    expect((await getLead(env.DB, id))!.status).toBe('confirmed');
  });
});

describe('erase', () => {
  it('erases the lead, keeps only the suppression marker, and a reused link finds nothing', async () => {
    const { id } = await makeLead('confirmed');
    const t = await tokenFor('erase', id);
    expect(await (await SELF.fetch(`${BASE}/loeschen?t=${t}`)).text()).toContain('Meine Daten jetzt löschen');
    expect(await getLead(env.DB, id)).not.toBeNull();

    const res = await post('/loeschen', { t });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Ihre Daten sind gelöscht');
    expect(await getLead(env.DB, id)).toBeNull();
    const suppressed = await env.DB.prepare('SELECT by FROM suppression').all<{ by: string }>();
    expect(suppressed.results).toContainEqual({ by: 'visitor' });
    const left = await env.DB.prepare('SELECT COUNT(*) AS n FROM consents WHERE lead_id = ?1')
      .bind(id)
      .first<{ n: number }>();
    expect(left!.n).toBe(0);

    const reused = await post('/loeschen', { t });
    expect(reused.status).toBe(404);
    expect(await reused.text()).toContain('Diese Anmeldung gibt es nicht mehr');
  });
});

describe('registration queues the confirmation', () => {
  const register = async (email: string, queue: Queue, environment = env.ENVIRONMENT) =>
    app.request(
      '/api/register',
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'cf-connecting-ip': uniqueIp() },
        body: JSON.stringify({ email, privacy: true, altcha: await solvedChallenge() }),
      },
      { ...env, MAIL_QUEUE: queue, ENVIRONMENT: environment },
    );

  it('queues one confirmation job for a new lead; deployed, its links use the configured site', async () => {
    const queue = fakeQueue();
    const res = await register(uniqueEmail('optin'), queue.binding);
    expect(res.status).toBe(200);
    expect(queue.messages).toEqual([expect.objectContaining({ type: 'mail', kind: 'confirm' })]);
    // No request-derived origin: a request through another hostname cannot redirect the links.
    expect(queue.messages[0]).not.toHaveProperty('origin');
    expect(JSON.stringify(queue.messages)).not.toContain('@');
  });

  it('in local development the links point at the dev server', async () => {
    const queue = fakeQueue();
    await register(uniqueEmail('optin-dev'), queue.binding, 'development');
    expect(queue.messages).toEqual([
      expect.objectContaining({ kind: 'confirm', origin: 'http://localhost' }),
    ]);
  });

  it('queues a new confirmation for a pending repeat only when the last one is older than 10 minutes', async () => {
    const email = uniqueEmail('repeat');
    const first = fakeQueue();
    await register(email, first.binding);
    const id = (first.messages[0] as { leadId: string }).leadId;
    await confirmationSentAgo(id, 0);
    const soon = fakeQueue();
    await register(email, soon.binding);
    expect(soon.messages).toEqual([]);
    await env.DB.prepare('DELETE FROM mail_sends WHERE lead_id = ?1').bind(id).run();
    await confirmationSentAgo(id, 11 * 60_000);
    // The registration itself (its pending consent) is as old as that mail.
    await env.DB.prepare('UPDATE consents SET given_at = given_at - ?2 WHERE lead_id = ?1')
      .bind(id, 11 * 60_000)
      .run();
    const later = fakeQueue();
    await register(email, later.binding);
    expect(later.messages).toEqual([expect.objectContaining({ kind: 'confirm', leadId: id })]);
  });

  it('still registers the visitor when the queue is down', async () => {
    const broken = {
      send: async () => {
        throw new Error('queue unavailable');
      },
      sendBatch: async () => {
        throw new Error('queue unavailable');
      },
    } as unknown as Queue;
    const email = uniqueEmail('noqueue');
    const res = await register(email, broken);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });
});
