/**
 * The one-time move of a KV-era deployment into D1 (POST /api/admin/migrate/kv-to-d1 and
 * worker/migrate/*), against env.LEGACY_LEADS seeded with records in the old formats:
 * every lead arrives with its consents and proof, markers keep mails from going out twice,
 * erased addresses stay erased, the count check adds up, a second run changes nothing,
 * an interrupted run continues, and afterwards nothing personal is left in KV.
 * The tests of this file build on each other's state, in order.
 */
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, resetConfigCache } from '../../worker/config-store';
import { copyStep, decodeCursor, type KindCount, type MigrationCounts } from '../../worker/migrate/kv-to-d1';
import { leadKeys, legacyLeadId } from '../../worker/store/lead-keys';
import { getLead, registerLead } from '../../worker/store/lead-store';
import { TEST_TEXTS } from './mail-helpers';

const kv = env.LEGACY_LEADS;
const db = env.DB;
const SECRET = env.LEAD_KEY_SECRET;
const OPS = { authorization: `Bearer ${env.OPS_TOKEN}`, 'content-type': 'application/json' };
const START_MS = Date.parse(DEFAULT_CONFIG.webinar.start);
const PERSONAL = ['lead:', 'suppressed:', 'sent:', 'fanout:', 'audit:', 'draw:', 'dlq:', 'devoutbox:'];

const T0 = Date.parse('2026-11-02T08:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const proof = (at: number, ip: string) => ({ at: iso(at), ip, userAgent: `UA ${ip}` });

/** A lead record as the KV store wrote it (schema 1). */
async function putOldLead(
  email: string,
  o: {
    status: 'pending' | 'confirmed' | 'unsubscribed';
    giveaway?: number;
    newsletter?: number;
    confirmedAt?: number;
  },
) {
  const id = await legacyLeadId(email, SECRET);
  const consent = (at: number) => ({ at: iso(at), textVersion: '2026-11' });
  const record = {
    schema: 1,
    id,
    email,
    firstName: 'Jürgen',
    status: o.status,
    createdAt: iso(T0),
    updatedAt: iso(o.confirmedAt ?? T0),
    phase: 'before',
    consents: {
      privacy: consent(T0),
      ...(o.giveaway !== undefined ? { giveaway: consent(o.giveaway) } : {}),
      ...(o.newsletter !== undefined ? { newsletter: consent(o.newsletter) } : {}),
    },
    source: { utm_source: 'newsletter', landingPath: '/' },
    proof: {
      registration: proof(T0, '192.0.2.10'),
      ...(o.confirmedAt ? { confirmation: proof(o.confirmedAt, '192.0.2.11') } : {}),
    },
    ...(o.confirmedAt ? { confirmedAt: iso(o.confirmedAt) } : {}),
    ...(o.status === 'unsubscribed' ? { unsubscribedAt: iso(T0 + 3 * 3_600_000) } : {}),
  };
  await kv.put(`lead:${id}`, JSON.stringify(record), { metadata: { s: o.status, x: 1 } });
  return { email, legacyId: id, ...(await leadKeys(email, SECRET)) };
}

const marker = (at: number, startMs?: number) =>
  JSON.stringify({ at: iso(at), ...(startMs ? { startMs } : {}) });

/** Calls the route until `done`; returns the summed counts and the number of calls. */
async function runAll(step: 'copy' | 'delete') {
  const sum: Record<string, number | KindCount> = {};
  let cursor: string | undefined;
  let calls = 0;
  let last: Record<string, unknown> = {};
  do {
    const res = await SELF.fetch('https://webinar.test/api/admin/migrate/kv-to-d1', {
      method: 'POST',
      headers: OPS,
      body: JSON.stringify({ step, ...(cursor ? { cursor } : {}) }),
    });
    expect(res.status).toBe(200);
    last = await res.json();
    calls += 1;
    const part = (step === 'copy' ? last.counts : last.deleted) as Record<string, number | KindCount>;
    for (const [k, val] of Object.entries(part)) {
      if (typeof val === 'number') sum[k] = ((sum[k] as number) ?? 0) + val;
      else {
        const s = (sum[k] as KindCount) ?? { seen: 0, moved: 0, skipped: 0, missing: 0 };
        sum[k] = {
          seen: s.seen + val.seen,
          moved: s.moved + val.moved,
          skipped: s.skipped + val.skipped,
          missing: s.missing + val.missing,
        };
      }
    }
    if (step === 'delete') sum.kept = ((sum.kept as number) ?? 0) + (last.kept as number);
    cursor = last.cursor as string | undefined;
  } while (!last.done);
  return { sum, calls, last };
}

/** Rows per table as the count check shows them; the audit log without the move's own entries. */
async function tableCounts(): Promise<Record<string, number>> {
  const res = await SELF.fetch('https://webinar.test/api/admin/migrate/kv-to-d1', { headers: OPS });
  expect(res.status).toBe(200);
  const { rows } = (await res.json()) as { rows: Record<string, number> };
  const own = await db
    .prepare(`SELECT COUNT(*) AS n FROM audit_log WHERE action LIKE 'migrate.%'`)
    .first<number>('n');
  return { ...rows, audit_log: rows.audit_log - own! };
}

async function personalKeys(): Promise<string[]> {
  const out: string[] = [];
  for (const prefix of PERSONAL) out.push(...(await kv.list({ prefix })).keys.map((k) => k.name));
  return out;
}

const fixture = {} as Record<
  'confirmed' | 'idn' | 'unsubscribed' | 'lateNewsletter' | 'erased',
  Awaited<ReturnType<typeof putOldLead>>
>;
let firstCopy: MigrationCounts;

describe('moving a KV-era deployment into D1', () => {
  it('refuses to delete anything before a copy has run to its end', async () => {
    const res = await SELF.fetch('https://webinar.test/api/admin/migrate/kv-to-d1', {
      method: 'POST',
      headers: OPS,
      body: JSON.stringify({ step: 'delete' }),
    });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: string }).error).toMatch(/^Erst kopieren/);
  });

  it('copies every lead with its consents and proof, markers, erasures, audit, draws and the config pointer', async () => {
    const confirmedAt = T0 + 3_600_000;
    fixture.confirmed = await putOldLead('Anna.Beispiel+webinar@Example.de', {
      status: 'confirmed',
      giveaway: T0,
      newsletter: T0,
      confirmedAt,
    });
    // A domain in Unicode: the old id (lower-cased only) differs from the new (punycode) one.
    fixture.idn = await putOldLead('kunde@bücher.example', { status: 'pending' });
    fixture.unsubscribed = await putOldLead('weg@example.de', {
      status: 'unsubscribed',
      newsletter: T0,
      confirmedAt,
    });
    fixture.lateNewsletter = await putOldLead('spaet@example.de', {
      status: 'confirmed',
      newsletter: confirmedAt + 86_400_000,
      confirmedAt,
    });
    await kv.put(`lead:${'e'.repeat(64)}`, '{not json');
    const c = fixture.confirmed;
    await kv.put(`sent:confirm:${c.legacyId}`, marker(T0 + 1000));
    await kv.put(`sent:welcome:${c.legacyId}`, marker(confirmedAt + 1000));
    await kv.put(`sent:reminder24h:${c.legacyId}`, marker(START_MS - 23 * 3_600_000, START_MS));
    await kv.put(`sent:confirm:${fixture.idn.legacyId}`, marker(T0 + 1000));
    await kv.put(`sent:confirm:${'a'.repeat(64)}`, marker(T0)); // its lead was purged long ago
    await kv.put(
      `dlq:confirm:${fixture.idn.legacyId}`,
      JSON.stringify({
        body: { type: 'mail', kind: 'confirm', leadId: fixture.idn.legacyId, requestedAt: T0 },
      }),
      {
        metadata: {
          kind: 'confirm',
          reason: 'Versand fehlgeschlagen',
          attempts: 6,
          failedAt: iso(T0 + 60_000),
        },
      },
    );
    await kv.put('dlq:invalid:msg-1', JSON.stringify({ body: { hello: 1 } }), {
      metadata: { kind: 'invalid', reason: 'Unbekannter Auftragstyp.', attempts: 1, failedAt: iso(T0) },
    });
    // Erased before the move: only the marker is left, the address itself is gone.
    fixture.erased = {
      email: 'geloescht@example.de',
      legacyId: await legacyLeadId('geloescht@example.de', SECRET),
      ...(await leadKeys('geloescht@example.de', SECRET)),
    };
    await kv.put(`suppressed:${fixture.erased.legacyId}`, '{}', { metadata: { at: iso(T0), by: 'visitor' } });
    await kv.put(
      `fanout:reminder24h:${START_MS}`,
      JSON.stringify({ status: 'done', leaseUntil: 0, enqueued: 3, at: iso(T0) }),
    );
    for (const [i, action] of ['leads.exported', 'giveaway.drawn'].entries())
      await kv.put(`audit:${9_999_999_999_999 - T0 - i}:${iso(T0 + i)}:abc${i}`, '', {
        metadata: { t: iso(T0 + i), role: 'ops', id: 'token:ops', action, detail: { count: 2 } },
      });
    const drawKey = `draw:${iso(T0 + 5000)}:0badcafe`;
    await kv.put(
      drawKey,
      JSON.stringify({
        key: drawKey,
        at: iso(T0 + 5000),
        by: 'token:ops',
        winnersRequested: 1,
        eligibleCount: 1,
        eligibleHash: 'f'.repeat(64),
        deadline: '2027-03-01T23:59:59+01:00',
        winners: [{ id: c.legacyId, email: c.email, firstName: 'Jürgen' }],
      }),
      {
        metadata: {
          at: iso(T0 + 5000),
          by: 'token:ops',
          eligibleCount: 1,
          winners: 1,
          eligibleHash: 'f'.repeat(64),
        },
      },
    );
    await kv.put(`devoutbox:${9_999_999_999_999 - T0}:01`, JSON.stringify({ to: c.email, subject: 'Test' }));
    // The live config of the old deployment: version 2 in CONTENT, no pointer in D1 yet.
    await env.CONTENT.put('config:v2', JSON.stringify({ version: 2, config: DEFAULT_CONFIG }));
    await env.CONTENT.put('config:current', '2');

    const { sum } = await runAll('copy');
    firstCopy = sum as unknown as MigrationCounts;
    expect(firstCopy).toEqual({
      lead: { seen: 5, moved: 4, skipped: 1, missing: 0 },
      suppressed: { seen: 1, moved: 1, skipped: 0, missing: 0 },
      sent: { seen: 5, moved: 4, skipped: 1, missing: 0 },
      dlq: { seen: 2, moved: 2, skipped: 0, missing: 0 },
      fanout: { seen: 1, moved: 1, skipped: 0, missing: 0 },
      audit: { seen: 2, moved: 2, skipped: 0, missing: 0 },
      draw: { seen: 1, moved: 1, skipped: 0, missing: 0 },
      devoutbox: { seen: 1, moved: 0, skipped: 1, missing: 0 },
      config: { seen: 1, moved: 1, skipped: 0, missing: 0 },
    });

    // The confirmed lead: new keys, every consent with its version, proof and the note.
    const lead = (await getLead(db, c.id))!;
    expect(lead).toMatchObject({
      email: c.email,
      mailbox: c.mailbox,
      status: 'confirmed',
      firstName: 'Jürgen',
    });
    expect(lead.source).toEqual({ utm_source: 'newsletter', landingPath: '/' });
    expect(lead.consents.map((x) => [x.kind, x.status, x.textVersion, x.text, x.note])).toEqual([
      ['privacy', 'confirmed', '2026-11', '', 'migrated_without_text'],
      ['giveaway', 'confirmed', '2026-11', '', 'migrated_without_text'],
      ['newsletter', 'confirmed', '2026-11', '', 'migrated_without_text'],
    ]);
    expect(lead.consents[0].given).toEqual({ at: iso(T0), ip: '192.0.2.10', userAgent: 'UA 192.0.2.10' });
    expect(lead.consents[0].confirmed).toEqual({
      at: iso(confirmedAt),
      ip: '192.0.2.11',
      userAgent: 'UA 192.0.2.11',
    });

    // The Unicode-domain lead under its new id, its confirmation marker and dead letter with it.
    expect(fixture.idn.id).not.toBe(fixture.idn.legacyId);
    expect((await getLead(db, fixture.idn.id))!.status).toBe('pending');
    const sends = await db.prepare('SELECT lead_id, kind, ref FROM mail_sends ORDER BY kind, lead_id').all();
    expect(sends.results).toEqual(
      expect.arrayContaining([
        { lead_id: c.id, kind: 'confirm', ref: 'new' },
        { lead_id: c.id, kind: 'welcome', ref: 'new' },
        { lead_id: c.id, kind: 'reminder24h', ref: String(START_MS) },
        { lead_id: fixture.idn.id, kind: 'confirm', ref: 'new' },
      ]),
    );
    expect(sends.results).toHaveLength(4);
    // Counted by the send budgets like a confirmation sent by this deployment.
    expect(
      await db
        .prepare(`SELECT mailbox, domain FROM mail_sends WHERE lead_id = ?1 AND kind = 'confirm'`)
        .bind(c.id)
        .first(),
    ).toEqual({ mailbox: c.mailbox, domain: 'example.de' });
    const letter = await db
      .prepare('SELECT key, lead_id, body FROM dead_letters WHERE lead_id = ?1')
      .bind(fixture.idn.id)
      .first<{ key: string; body: string }>();
    expect(letter!.key).toBe(`confirm:${fixture.idn.id}`);
    expect(JSON.parse(letter!.body)).toMatchObject({ type: 'mail', kind: 'confirm', leadId: fixture.idn.id });

    // Unsubscribed: mail consents withdrawn. Added after the only confirmation: still pending.
    const gone = (await getLead(db, fixture.unsubscribed.id))!;
    expect(gone.status).toBe('unsubscribed');
    expect(gone.consents.map((x) => [x.kind, x.status])).toEqual([
      ['privacy', 'withdrawn'],
      ['newsletter', 'withdrawn'],
    ]);
    const late = (await getLead(db, fixture.lateNewsletter.id))!;
    expect(late.consents.map((x) => [x.kind, x.status, x.note])).toEqual([
      ['privacy', 'confirmed', 'migrated_without_text'],
      ['newsletter', 'pending', 'migrated_without_text;given_after_confirmation'],
    ]);

    // The draw names its winner by the new id; the reminder already fanned out stays done.
    const draw = await db
      .prepare('SELECT series_id, seq, winners FROM draws')
      .first<{ series_id: string; seq: number; winners: string }>();
    expect(draw).toMatchObject({ series_id: 'giveaway:2027-03-01T22:59:59.000Z', seq: 1 });
    expect(JSON.parse(draw!.winners)).toEqual([c.id]);
    expect(
      await db
        .prepare('SELECT status FROM fanouts WHERE kind = ?1 AND start_ms = ?2')
        .bind('reminder24h', START_MS)
        .first('status'),
    ).toBe('done');
    const audit = await db
      .prepare(
        `SELECT action FROM audit_log WHERE action IN ('leads.exported', 'giveaway.drawn') ORDER BY at`,
      )
      .all();
    expect(audit.results.map((r) => r.action)).toEqual(['leads.exported', 'giveaway.drawn']);
    expect(await db.prepare('SELECT version FROM config_pointer').first('version')).toBe(2);
  });

  it('keeps an erased address erased: registering it again stores nothing', async () => {
    const result = await registerLead(
      db,
      SECRET,
      {
        email: fixture.erased.email,
        firstName: '',
        privacy: true,
        giveaway: false,
        newsletter: false,
        website: '',
        referrer: '',
      },
      {
        now: new Date(),
        phase: 'before',
        texts: TEST_TEXTS,
        ip: '192.0.2.1',
        userAgent: 'ua',
        giveawayOpen: true,
      },
    );
    expect(result.outcome).toBe('suppressed');
    expect(await getLead(db, fixture.erased.id)).toBeNull();
  });

  it('is idempotent: a second run counts the same and adds no row', async () => {
    const before = await tableCounts();
    const { sum } = await runAll('copy');
    expect(sum).toEqual(firstCopy);
    expect(await tableCounts()).toEqual(before);
  });

  it('deletes every personal key from KV and leaves the published configs', async () => {
    const { sum } = await runAll('delete');
    expect(sum).toMatchObject({
      lead: 5,
      suppressed: 1,
      sent: 5,
      dlq: 2,
      fanout: 1,
      audit: 2,
      draw: 1,
      devoutbox: 1,
      kept: 0,
    });
    expect(await personalKeys()).toEqual([]);
    expect((await kv.list()).keys).toEqual([]);
    expect(await env.CONTENT.get('config:v2')).not.toBeNull();
    // D1 keeps everything; the worker shows the adopted version.
    resetConfigCache();
    expect((await getLead(db, fixture.confirmed.id))!.consents).toHaveLength(3);
  });

  it('continues where an interrupted run stopped and ends with the same rows as one run', async () => {
    const ids = await Promise.all(
      Array.from({ length: 250 }, (_, i) => putOldLead(`viele.${i}@example.de`, { status: 'pending' })),
    );
    const leadsBefore = (await tableCounts()).leads;
    // One lead page, then the "crash": the next call resumes from the cursor it got.
    const first = await copyStep(env, decodeCursor(undefined)!, { ops: 1, ms: 1 });
    expect(first).toMatchObject({ done: false, phase: 'lead' });
    expect(first.counts.lead.moved).toBe(100);
    let state = decodeCursor(first.cursor)!;
    let moved = first.counts.lead.moved;
    for (;;) {
      const next = await copyStep(env, state, { ops: 1, ms: 1 });
      moved += next.counts.lead.moved;
      if (next.done) break;
      state = decodeCursor(next.cursor)!;
    }
    expect(moved).toBe(250);
    // A restart from the beginning (the cursor was lost) changes nothing.
    const rows = await tableCounts();
    await runAll('copy');
    expect(await tableCounts()).toEqual(rows);
    expect(rows.leads).toBe(leadsBefore + 250);
    expect(await getLead(db, ids[249].id)).not.toBeNull();
    await runAll('delete');
    expect(await personalKeys()).toEqual([]);
  });

  it('answers a forged cursor with 400 and a German message', async () => {
    const res = await SELF.fetch('https://webinar.test/api/admin/migrate/kv-to-d1', {
      method: 'POST',
      headers: OPS,
      body: JSON.stringify({ cursor: 'kein-cursor' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/^Ungültiger Cursor/);
  });

  it('is for ops only', async () => {
    const res = await SELF.fetch('https://webinar.test/api/admin/migrate/kv-to-d1', {
      method: 'POST',
      headers: { authorization: `Bearer ${env.MARKETING_TOKEN}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(403);
  });
});
