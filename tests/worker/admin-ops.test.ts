import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { readAudit } from '../../worker/audit-log';
import { DEFAULT_CONFIG } from '../../worker/config-store';
import { pickDistinct, randomIndex, sha256Hex } from '../../worker/giveaway-draw';
import { LEAD_PREFIX, SUPPRESSED_PREFIX, eraseLead, leadId } from '../../worker/lead-store';
import {
  fakeId,
  MARKETING,
  meta,
  MemoryKV,
  OPS,
  ORIGIN,
  postJsonInit,
  request,
  seedLead,
  session,
} from './admin-helpers';
import { postJson, storedLead, uniqueEmail } from './helpers';

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

describe('ops routes: roles', () => {
  for (const [method, path, body] of OPS_ROUTES) {
    it(`${method} ${path}: 401 without credential, 403 for marketing (token and session), ops allowed`, async () => {
      const kv = new MemoryKV();
      const none = await request(path, init(method, body, {}), { LEADS: kv, CONTENT: new MemoryKV() });
      expect(none.status).toBe(401);
      expect(none.headers.get('cache-control')).toBe('no-store');
      expect(((await none.json()) as { error: string }).error).toBe('Bitte melden Sie sich an.');

      const wrongToken = await request(
        path,
        init(method, body, { authorization: 'Bearer not-a-token-at-all' }),
        {
          LEADS: kv,
        },
      );
      expect(wrongToken.status).toBe(401);

      const mk = await request(path, init(method, body, MARKETING()), { LEADS: kv, CONTENT: new MemoryKV() });
      expect(mk.status).toBe(403);
      expect(((await mk.json()) as { error: string }).error).toBe(
        'Für diese Aktion fehlt Ihnen die Berechtigung.',
      );

      const mkSession = await session(env.MARKETING_TOKEN);
      const mk2 = await request(
        path,
        init(method, body, { cookie: mkSession.cookie, 'x-csrf-token': mkSession.csrf, origin: ORIGIN }),
        { LEADS: kv },
      );
      expect(mk2.status).toBe(403);
      // Nothing but audit entries of the refusals was written or read.
      expect([...kv.data.keys()].every((k) => k.startsWith('audit:'))).toBe(true);
      expect(kv.counts.get).toBe(0);

      const ops = await request(path, init(method, body, OPS()), { LEADS: kv, CONTENT: new MemoryKV() });
      // The draw has nobody eligible in an empty store: 400, but past the role check.
      expect(ops.status).toBe(path.endsWith('/draw') ? 400 : 200);
      expect(ops.headers.get('cache-control')).toBe('no-store');
    });
  }

  it('audits a wrong-role attempt with identity and path, never the token', async () => {
    const kv = new MemoryKV();
    await request('/api/admin/stats', { headers: MARKETING() }, { LEADS: kv });
    const entries = [...kv.data.values()].map((e) => e.metadata);
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
  it('audits at most 10 refusals a minute from one IP, and still refuses the rest', async () => {
    const kv = new MemoryKV();
    const headers = { authorization: 'Bearer guess-guess-guess', 'cf-connecting-ip': '203.0.113.77' };
    for (let i = 0; i < 13; i++)
      expect((await request('/api/admin/stats', { headers }, { LEADS: kv })).status).toBe(401);
    expect([...kv.data.keys()].filter((k) => k.startsWith('audit:'))).toHaveLength(10);
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
  it('counts totals, statuses, giveaway entries, per Berlin day and per UTM source', async () => {
    const kv = new MemoryKV();
    await seedLead(
      kv,
      meta({ c: '2026-11-29T23:30:00.000Z', us: 'newsletter', s: 'confirmed', g: 1 }),
      fakeId(1),
    ); // 30.11. Berlin
    await seedLead(kv, meta({ c: '2026-11-30T10:00:00.000Z', us: 'newsletter' }), fakeId(2));
    await seedLead(kv, meta({ c: '2026-12-02T10:00:00.000Z', s: 'confirmed', nl: 1 }), fakeId(3));
    await seedLead(
      kv,
      meta({ c: '2026-12-02T11:00:00.000Z', us: 'facebook', s: 'unsubscribed', g: 1 }),
      fakeId(4),
    );
    await kv.put(`lead:${fakeId(5)}`, '{}', { metadata: { broken: true } });
    const res = await request('/api/admin/stats', { headers: OPS() }, { LEADS: kv });
    expect(res.status).toBe(200);
    const s = await res.json();
    expect(s).toMatchObject({
      total: 4,
      byStatus: { pending: 1, confirmed: 2, unsubscribed: 1 },
      confirmationRate: 0.5,
      giveawayEntries: 2,
      newsletter: 1,
      skipped: 1,
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
    });
    expect(kv.counts.get).toBe(0);
  });
});

describe('POST /api/admin/leads/erase', () => {
  const eraseReq = (email: unknown) =>
    SELF.fetch(`${ORIGIN}/api/admin/leads/erase`, postJsonInit({ email }, OPS()));

  it('erases a known lead, suppresses it, and answers exactly as for an unknown address', async () => {
    const email = uniqueEmail('loeschen');
    expect((await postJson({ email, privacy: true, firstName: 'Erika' })).status).toBe(200);
    expect((await storedLead(email)).record).not.toBeNull();

    const known = await eraseReq(email.toUpperCase());
    const unknown = await eraseReq(uniqueEmail('unbekannt'));
    expect(known.status).toBe(200);
    expect(unknown.status).toBe(known.status);
    expect(await unknown.text()).toBe(await known.text());

    const id = await leadId(email, env.LEAD_KEY_SECRET);
    expect(await env.LEADS.get(LEAD_PREFIX + id)).toBeNull();
    const marker = await env.LEADS.get(SUPPRESSED_PREFIX + id);
    expect(marker).not.toBeNull();
    expect(marker).not.toContain(email);
  });

  it('re-registering an erased address stores nothing, and the visitor sees the usual answer', async () => {
    const email = uniqueEmail('wieder');
    await postJson({ email, privacy: true });
    await eraseReq(email);
    const again = await postJson({ email, privacy: true, giveaway: true });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ ok: true });
    expect((await storedLead(email)).record).toBeNull();
  });

  it('audits that an erasure happened, not the address', async () => {
    const kv = new MemoryKV();
    const email = 'ganz.geheim@beispiel.de';
    await seedLead(kv, meta({ e: email }));
    const res = await request('/api/admin/leads/erase', postJsonInit({ email }, OPS()), { LEADS: kv });
    expect(res.status).toBe(200);
    const audit = [...kv.data.entries()].filter(([k]) => k.startsWith('audit:')).map(([, e]) => e.metadata);
    expect(audit).toEqual([expect.objectContaining({ action: 'lead.erased', role: 'ops', id: 'token:ops' })]);
    expect(JSON.stringify([...kv.data.entries()])).not.toContain('ganz.geheim');
  });

  it('rejects a malformed address with a German 400', async () => {
    const res = await eraseReq('kein-at-zeichen');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe(
      'Bitte geben Sie eine gültige E-Mail-Adresse ein.',
    );
  });

  it('eraseLead refuses anything that is not a lead id', async () => {
    await expect(eraseLead(env.LEADS, 'lead:../x')).rejects.toThrow(/not a lead id/);
  });
});

describe('POST /api/admin/giveaway/draw', () => {
  const deadline = DEFAULT_CONFIG.giveaway.deadline;
  const beforeDeadline = new Date(Date.parse(deadline) - 86_400_000).toISOString();
  const afterDeadline = new Date(Date.parse(deadline) + 60_000).toISOString();

  async function seedPool(kv: MemoryKV) {
    const eligible: string[] = [];
    for (let i = 0; i < 5; i++)
      eligible.push(
        await seedLead(
          kv,
          meta({ e: `win${i}@beispiel.de`, s: 'confirmed', g: 1, c: beforeDeadline }),
          fakeId(100 + i),
        ),
      );
    // Not eligible: no giveaway entry, pending, unsubscribed, after the deadline, erased.
    await seedLead(kv, meta({ s: 'confirmed', c: beforeDeadline }), fakeId(200));
    await seedLead(kv, meta({ s: 'pending', g: 1, c: beforeDeadline }), fakeId(201));
    await seedLead(kv, meta({ s: 'unsubscribed', g: 1, c: beforeDeadline }), fakeId(202));
    await seedLead(kv, meta({ s: 'confirmed', g: 1, c: afterDeadline }), fakeId(203));
    await seedLead(kv, meta({ s: 'confirmed', g: 1, c: beforeDeadline }), fakeId(204));
    await kv.put(SUPPRESSED_PREFIX + fakeId(204), '{}'); // erasure stopped half-way
    return eligible.sort();
  }

  const draw = (kv: MemoryKV, body: unknown) =>
    request('/api/admin/giveaway/draw', postJsonInit(body, OPS()), { LEADS: kv, CONTENT: new MemoryKV() });

  it('draws among eligible entries only and records count, hash of sorted ids and winners', async () => {
    const kv = new MemoryKV();
    const eligible = await seedPool(kv);
    const res = await draw(kv, { winners: 2 });
    expect(res.status).toBe(200);
    const { draw: d } = (await res.json()) as {
      draw: {
        winners: { id: string; email: string }[];
        eligibleCount: number;
        eligibleHash: string;
        by: string;
      };
    };
    expect(d.eligibleCount).toBe(5);
    expect(d.eligibleHash).toBe(await sha256Hex(eligible.join('\n')));
    expect(d.winners).toHaveLength(2);
    expect(new Set(d.winners.map((w) => w.id)).size).toBe(2);
    for (const w of d.winners) {
      expect(eligible).toContain(w.id);
      expect(w.email).toMatch(/^win\d@beispiel\.de$/);
    }
    expect(d.by).toBe('token:ops');

    const audit = [...kv.data.entries()].filter(([k]) => k.startsWith('audit:')).map(([, e]) => e.metadata);
    expect(audit).toContainEqual(
      expect.objectContaining({
        action: 'giveaway.drawn',
        id: 'token:ops',
        detail: expect.objectContaining({ eligible: 5, winners: 2, eligibleHash: d.eligibleHash }),
      }),
    );
    expect(JSON.stringify(audit)).not.toContain('@beispiel.de');

    const list = await request('/api/admin/giveaway/draws', { headers: OPS() }, { LEADS: kv });
    expect(((await list.json()) as { draws: unknown[] }).draws).toEqual([d]);
  });

  it('refuses a second draw without redraw (409) and records an explicit redraw with its reason', async () => {
    const kv = new MemoryKV();
    await seedPool(kv);
    const first = (await (await draw(kv, { winners: 1 })).json()) as { draw: { key: string } };
    const again = await draw(kv, { winners: 1 });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: string }).error).toMatch(/Neuauslosung mit Begründung/);
    expect((await draw(kv, { winners: 1, redraw: { reason: '' } })).status).toBe(400);
    const redraw = await draw(kv, { winners: 1, redraw: { reason: 'Gewinner hat nicht geantwortet' } });
    expect(redraw.status).toBe(200);
    const r = (await redraw.json()) as { draw: { redraw: { reason: string; previous: string } } };
    expect(r.draw.redraw).toEqual({ reason: 'Gewinner hat nicht geantwortet', previous: first.draw.key });
  });

  it('answers 400 when more winners are asked for than there are eligible entries', async () => {
    const kv = new MemoryKV();
    await seedPool(kv);
    const res = await draw(kv, { winners: 6 });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/nur 5 teilnahmeberechtigte/);
    expect([...kv.data.keys()].some((k) => k.startsWith('draw:'))).toBe(false);
  });

  it('validates the winner count', async () => {
    const kv = new MemoryKV();
    for (const winners of [0, 1.5, '2', 1001]) expect((await draw(kv, { winners })).status).toBe(400);
  });
});

describe('random choice', () => {
  it('rejects values that would bias the modulo', () => {
    // n = 3: 2^32 mod 3 = 1, so 4294967295 must be redrawn.
    const values = [4294967295, 7];
    const idx = randomIndex(3, (buf) => {
      buf[0] = values.shift()!;
      return buf;
    });
    expect(idx).toBe(1);
    expect(values).toEqual([]);
  });

  it('picks distinct items, each with roughly equal frequency', () => {
    const counts = new Map<number, number>();
    for (let i = 0; i < 3000; i++)
      for (const x of pickDistinct([0, 1, 2, 3, 4], 2)) counts.set(x, (counts.get(x) ?? 0) + 1);
    for (const x of [0, 1, 2, 3, 4]) expect(counts.get(x)!).toBeGreaterThan(1000); // expected 1200
  });
});

describe('GET /api/admin/audit', () => {
  it('lists entries newest first', async () => {
    const kv = new MemoryKV();
    await request('/api/admin/leads/erase', postJsonInit({ email: 'a@beispiel.de' }, OPS()), { LEADS: kv });
    await new Promise((r) => setTimeout(r, 5));
    await request('/api/admin/leads?format=csv', { headers: OPS() }, { LEADS: kv }).then((r) => r.text());
    const res = await request('/api/admin/audit', { headers: OPS() }, { LEADS: kv });
    const { entries } = (await res.json()) as { entries: { action: string }[] };
    expect(entries.map((e) => e.action)).toEqual(['leads.exported', 'lead.erased']);
  });

  it('keeps entries in the real KV readable through readAudit', async () => {
    await SELF.fetch(`${ORIGIN}/api/admin/leads/erase`, postJsonInit({ email: uniqueEmail('audit') }, OPS()));
    const { entries } = await readAudit(env.LEADS, { limit: 1000 });
    expect(entries.some((e) => e.action === 'lead.erased' && e.id === 'token:ops')).toBe(true);
  });
});
