import { env, SELF } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import { readAudit } from '../../worker/audit-log';
import { leadKeys } from '../../worker/store/lead-keys';
import { getLead } from '../../worker/store/lead-store';
import {
  emptyPersonData,
  MARKETING,
  OPS,
  ORIGIN,
  postJsonInit,
  recordingDb,
  request,
  seedLead,
  session,
} from './admin-helpers';
import { postJson, uniqueEmail } from './helpers';

const OPS_ROUTES: [method: string, path: string, body?: unknown][] = [
  ['GET', '/api/admin/stats'],
  ['GET', '/api/admin/leads?format=csv'],
  ['POST', '/api/admin/leads/erase', { email: 'niemand@beispiel.de' }],
  ['GET', '/api/admin/audit'],
  ['GET', '/api/admin/giveaway/draws'],
  ['POST', '/api/admin/giveaway/draw', { winners: 1 }],
];

function init(method: string, body: unknown, headers: Record<string, string>): RequestInit {
  return body === undefined ? { method, headers } : postJsonInit(body, headers);
}

const onlyAuditWrites = (sql: string[]) => sql.filter((s) => !s.startsWith('INSERT INTO audit_log'));

beforeEach(emptyPersonData);

describe('ops routes: roles', () => {
  for (const [method, path, body] of OPS_ROUTES) {
    it(`${method} ${path}: 401 without credential, 403 for marketing (token and session), ops allowed`, async () => {
      const { db, sql } = recordingDb();
      const none = await request(path, init(method, body, {}), { DB: db });
      expect(none.status).toBe(401);
      expect(none.headers.get('cache-control')).toBe('no-store');
      expect(((await none.json()) as { error: string }).error).toBe('Bitte melden Sie sich an.');

      const wrongToken = await request(
        path,
        init(method, body, { authorization: 'Bearer not-a-token-at-all' }),
        { DB: db },
      );
      expect(wrongToken.status).toBe(401);

      const mk = await request(path, init(method, body, MARKETING()), { DB: db });
      expect(mk.status).toBe(403);
      expect(((await mk.json()) as { error: string }).error).toBe(
        'Für diese Aktion fehlt Ihnen die Berechtigung.',
      );

      const mkSession = await session(env.MARKETING_TOKEN);
      const mk2 = await request(
        path,
        init(method, body, { cookie: mkSession.cookie, 'x-csrf-token': mkSession.csrf, origin: ORIGIN }),
        { DB: db },
      );
      expect(mk2.status).toBe(403);
      // Nothing but audit entries of the refusals was written, and nothing read.
      expect(onlyAuditWrites(sql)).toEqual([]);

      const ops = await request(path, init(method, body, OPS()), { DB: db });
      // The draw has nobody eligible in an empty store: 400, but past the role check.
      expect(ops.status).toBe(path.endsWith('/draw') ? 400 : 200);
      expect(ops.headers.get('cache-control')).toBe('no-store');
    });
  }

  it('audits a wrong-role attempt with identity and path, never the token', async () => {
    await request('/api/admin/stats', { headers: MARKETING() });
    const { entries } = await readAudit(env.DB);
    expect(entries).toContainEqual(
      expect.objectContaining({
        action: 'auth.failed',
        role: 'marketing',
        id: 'token:marketing',
        detail: expect.objectContaining({ reason: 'wrong_role', path: '/api/admin/stats', status: 403 }),
      }),
    );
    expect(JSON.stringify(entries)).not.toContain(env.MARKETING_TOKEN);
  });
});

describe('audit flood protection', () => {
  it('audits at most 10 refusals a minute from one IP, then answers 429 without auditing more', async () => {
    const headers = { authorization: 'Bearer guess-guess-guess', 'cf-connecting-ip': '203.0.113.77' };
    const statuses: number[] = [];
    for (let i = 0; i < 13; i++) statuses.push((await request('/api/admin/stats', { headers })).status);
    expect(statuses).toEqual([...Array(10).fill(401), 429, 429, 429]);
    const { entries } = await readAudit(env.DB);
    expect(entries.filter((e) => e.action === 'auth.failed')).toHaveLength(10);
  });
});

describe('CSRF on cookie-authenticated mutations', () => {
  const erase = (headers: Record<string, string>) =>
    SELF.fetch(`${ORIGIN}/api/admin/leads/erase`, postJsonInit({ email: uniqueEmail('csrf') }, headers));

  it('refuses a session POST without the X-CSRF-Token header', async () => {
    const s = await session(env.OPS_TOKEN);
    const res = await erase({ cookie: s.cookie });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toMatch(/Cross-Site-Request-Forgery/);
  });

  it('refuses a wrong token value and a foreign Origin even with the right one', async () => {
    const s = await session(env.OPS_TOKEN);
    // One character changed (never to itself: a token may start with "x").
    const wrong = (s.csrf[0] === 'x' ? 'y' : 'x') + s.csrf.slice(1);
    expect((await erase({ cookie: s.cookie, 'x-csrf-token': wrong })).status).toBe(403);
    expect(
      (await erase({ cookie: s.cookie, 'x-csrf-token': s.csrf, origin: 'https://evil.example' })).status,
    ).toBe(403);
  });

  it('accepts the CSRF value from /api/admin/me; a bearer request needs none', async () => {
    const s = await session(env.OPS_TOKEN);
    const me = (await (
      await SELF.fetch(`${ORIGIN}/api/admin/me`, { headers: { cookie: s.cookie } })
    ).json()) as {
      csrf: string;
    };
    expect(me.csrf).toBe(s.csrf);
    expect((await erase({ cookie: s.cookie, 'x-csrf-token': me.csrf, origin: ORIGIN })).status).toBe(200);
    expect((await erase(OPS())).status).toBe(200);
  });
});

describe('GET /api/admin/stats', () => {
  it('counts totals, statuses, confirmed entries, per Berlin day and per UTM source with aggregates only', async () => {
    const at = (iso: string) => Date.parse(iso);
    // 30.11. in Berlin (23:30 UTC on the 29th is 00:30 on the 30th).
    await seedLead({
      at: at('2026-11-29T23:30:00Z'),
      utm_source: 'newsletter',
      status: 'confirmed',
      giveaway: true,
    });
    await seedLead({ at: at('2026-11-30T10:00:00Z'), utm_source: 'newsletter', giveaway: true });
    await seedLead({ at: at('2026-12-02T10:00:00Z'), status: 'confirmed', newsletter: true });
    // Unsubscribed after confirming: the giveaway entry stays, the newsletter goes.
    await seedLead({
      at: at('2026-12-02T11:00:00Z'),
      utm_source: 'facebook',
      status: 'unsubscribed',
      giveaway: true,
      newsletter: true,
    });
    const { db, sql } = recordingDb();
    const res = await request('/api/admin/stats', { headers: OPS() }, { DB: db });
    expect(res.status).toBe(200);
    const s = await res.json();
    expect(s).toEqual({
      ok: true,
      total: 4,
      byStatus: { pending: 1, confirmed: 2, unsubscribed: 1 },
      confirmationRate: 0.5,
      giveawayEntries: 2,
      newsletter: 1,
      skipped: 0,
      perDay: [
        { day: '2026-11-30', count: 2 },
        { day: '2026-12-01', count: 0 },
        { day: '2026-12-02', count: 2 },
      ],
      perSource: [
        { source: 'newsletter', count: 2, confirmed: 1 },
        { source: '', count: 1, confirmed: 1 },
        { source: 'facebook', count: 1, confirmed: 0 },
      ],
      generatedAt: expect.any(String),
    });
    // Every query that reads leads or consents is an aggregate.
    const reads = sql.filter((q) => /FROM (leads|consents)/.test(q));
    expect(reads.length).toBeGreaterThan(0);
    for (const q of reads) expect(q).toMatch(/COUNT\(/);
  });

  it('shows zeros for an empty store', async () => {
    const res = await request('/api/admin/stats', { headers: OPS() });
    expect(await res.json()).toMatchObject({ total: 0, confirmationRate: 0, perDay: [], perSource: [] });
  });
});

describe('POST /api/admin/leads/erase', () => {
  const eraseReq = (email: unknown) =>
    SELF.fetch(`${ORIGIN}/api/admin/leads/erase`, postJsonInit({ email }, OPS()));

  it('erases a known lead, suppresses its mailbox, and answers exactly as for an unknown address', async () => {
    const lead = await seedLead({ email: uniqueEmail('loeschen'), firstName: 'Erika', at: Date.now() });
    expect(await getLead(env.DB, lead.id)).not.toBeNull();

    const known = await eraseReq(lead.email.toUpperCase());
    const unknown = await eraseReq(uniqueEmail('unbekannt'));
    expect(known.status).toBe(200);
    expect(unknown.status).toBe(known.status);
    expect(await unknown.text()).toBe(await known.text());

    expect(await getLead(env.DB, lead.id)).toBeNull();
    const { mailbox } = await leadKeys(lead.email, env.LEAD_KEY_SECRET);
    const marker = await env.DB.prepare('SELECT * FROM suppression WHERE mailbox = ?1').bind(mailbox).first();
    expect(marker).toMatchObject({ by: 'ops' });
    expect(JSON.stringify(marker)).not.toContain(lead.email);
  });

  it('re-registering an erased address stores nothing, and the visitor sees the usual answer', async () => {
    const email = uniqueEmail('wieder');
    const lead = await seedLead({ email, at: Date.now() });
    await eraseReq(email);
    const again = await postJson({ email, privacy: true, giveaway: true });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ ok: true });
    expect(await getLead(env.DB, lead.id)).toBeNull();
  });

  it('audits that an erasure happened, not the address', async () => {
    const email = 'ganz.geheim@beispiel.de';
    await seedLead({ email, at: Date.now() });
    const res = await request('/api/admin/leads/erase', postJsonInit({ email }, OPS()));
    expect(res.status).toBe(200);
    const { entries } = await readAudit(env.DB);
    expect(entries).toEqual([
      expect.objectContaining({ action: 'lead.erased', role: 'ops', id: 'token:ops' }),
    ]);
    expect(JSON.stringify(entries)).not.toContain('ganz.geheim');
  });

  it('rejects a malformed address with a German 400', async () => {
    const res = await eraseReq('kein-at-zeichen');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe(
      'Bitte geben Sie eine gültige E-Mail-Adresse ein.',
    );
  });
});

describe('GET /api/admin/audit', () => {
  it('lists entries newest first', async () => {
    await request('/api/admin/leads/erase', postJsonInit({ email: 'a@beispiel.de' }, OPS()));
    await request('/api/admin/leads?format=csv', { headers: OPS() }).then((r) => r.text());
    const res = await request('/api/admin/audit', { headers: OPS() });
    const { entries } = (await res.json()) as { entries: { action: string }[] };
    expect(entries.map((e) => e.action)).toEqual(['leads.exported', 'lead.erased']);
  });

  it('keeps entries written through the whole worker readable through readAudit', async () => {
    await SELF.fetch(`${ORIGIN}/api/admin/leads/erase`, postJsonInit({ email: uniqueEmail('audit') }, OPS()));
    const { entries } = await readAudit(env.DB, { limit: 1000 });
    expect(entries.some((e) => e.action === 'lead.erased' && e.id === 'token:ops')).toBe(true);
  });
});
