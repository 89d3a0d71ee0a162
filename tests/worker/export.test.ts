import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { csvField, neutralise, parseSince } from '../../worker/lead-export';
import { fakeId, MARKETING, meta, MemoryKV, OPS, ORIGIN, request, seedLead } from './admin-helpers';
import { parseCsv } from '../helpers/csv.mjs';
import { postJson, uniqueEmail } from './helpers';

async function exportOf(kv: MemoryKV, query: string) {
  const res = await request(`/api/admin/leads?${query}`, { headers: OPS() }, { LEADS: kv });
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
}

const text = (b: Uint8Array) => new TextDecoder('utf-8', { ignoreBOM: true }).decode(b);

describe('CSV cells', () => {
  it('neutralises formula starts with a single quote (OWASP)', () => {
    for (const start of ['=', '+', '-', '@', '\t', '\r'])
      expect(neutralise(`${start}HYPERLINK("http://x")`)).toBe(`'${start}HYPERLINK("http://x")`);
    expect(neutralise('Jürgen')).toBe('Jürgen');
    expect(neutralise('a=b')).toBe('a=b');
  });

  it('quotes separators, quotes and line breaks and doubles inner quotes', () => {
    expect(csvField('a,b', ',')).toBe('"a,b"');
    expect(csvField('a;b', ',')).toBe('a;b');
    expect(csvField('a;b', ';')).toBe('"a;b"');
    expect(csvField('sagt "hallo"', ',')).toBe('"sagt ""hallo"""');
    expect(csvField('zwei\nZeilen', ',')).toBe('"zwei\nZeilen"');
    expect(csvField('=1+2;3', ';')).toBe(`"'=1+2;3"`);
  });
});

describe('GET /api/admin/leads', () => {
  it('streams RFC 4180 CSV with a header row; tricky names survive a round trip', async () => {
    const kv = new MemoryKV();
    const names = [
      'Jürgen Öztürk-Weiß',
      'O"Brien',
      'Anna, Maria',
      'zwei\r\nZeilen',
      '=HYPERLINK("http://böse.example","klick")',
    ];
    for (const [i, n] of names.entries())
      await seedLead(
        kv,
        meta({ e: `name${i}@beispiel.de`, n, us: i === 0 ? '+newsletter' : undefined }),
        fakeId(i + 1),
      );
    const { res, bytes } = await exportOf(kv, 'format=csv');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv; charset=utf-8/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-disposition')).toMatch(
      /^attachment; filename="leads-\d{4}-\d{2}-\d{2}\.csv"$/,
    );
    expect(bytes[0]).not.toBe(0xef); // no BOM in plain CSV
    const rows = parseCsv(text(bytes), ',');
    expect(rows[0]).toEqual([
      'id',
      'email',
      'firstName',
      'status',
      'createdAt',
      'confirmedAt',
      'phase',
      'giveaway',
      'newsletter',
      'utm_source',
      'utm_medium',
      'utm_campaign',
    ]);
    expect(rows).toHaveLength(names.length + 1);
    expect(rows.slice(1).map((r) => r[2])).toEqual([
      'Jürgen Öztürk-Weiß',
      'O"Brien',
      'Anna, Maria',
      'zwei\r\nZeilen',
      `'=HYPERLINK("http://böse.example","klick")`,
    ]);
    expect(rows[1][9]).toBe("'+newsletter");
    expect(rows[1][1]).toBe('name0@beispiel.de');
  });

  it('excel: UTF-8 BOM, semicolons, CRLF, German headers and values', async () => {
    const kv = new MemoryKV();
    await seedLead(
      kv,
      meta({
        e: 'grüße@beispiel.de',
        n: 'Müller; Jörg',
        s: 'confirmed',
        g: 1,
        cf: '2026-11-21T08:00:00.000Z',
      }),
      fakeId(1),
    );
    const { res, bytes } = await exportOf(kv, 'format=excel');
    expect(res.status).toBe(200);
    expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(res.headers.get('content-disposition')).toMatch(/filename="leads-excel-\d{4}-\d{2}-\d{2}\.csv"/);
    const body = text(bytes).slice(1);
    expect(body.split('\r\n')).toHaveLength(3); // header, one lead, trailing empty
    expect(body).not.toMatch(/[^\r]\n/);
    const rows = parseCsv(body, ';');
    expect(rows[0]).toEqual([
      'ID',
      'E-Mail',
      'Vorname',
      'Status',
      'Angemeldet am (UTC)',
      'Bestätigt am (UTC)',
      'Angemeldet',
      'Gewinnspiel',
      'Newsletter',
      'UTM-Quelle',
      'UTM-Medium',
      'UTM-Kampagne',
    ]);
    expect(rows[1]).toEqual([
      fakeId(1),
      'grüße@beispiel.de',
      'Müller; Jörg',
      'bestätigt',
      '2026-11-20T10:00:00.000Z',
      '2026-11-21T08:00:00.000Z',
      'vor dem Webinar',
      'ja',
      'nein',
      '',
      '',
      '',
    ]);
  });

  it('ndjson: one object per lead with email, status and createdAt, raw values', async () => {
    const kv = new MemoryKV();
    await seedLead(kv, meta({ e: 'a@beispiel.de', n: '=raw', nl: 1 }), fakeId(1));
    await seedLead(kv, meta({ e: 'b@beispiel.de', s: 'unsubscribed' }), fakeId(2));
    const { res, bytes } = await exportOf(kv, 'format=ndjson');
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const lines = text(bytes)
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      email: 'a@beispiel.de',
      firstName: '=raw',
      status: 'pending',
      newsletter: true,
      giveaway: false,
    });
    expect(lines[0].createdAt).toBe('2026-11-20T10:00:00.000Z');
    expect(lines[1]).toMatchObject({ email: 'b@beispiel.de', status: 'unsubscribed', firstName: null });
  });

  it('filters by since (Berlin midnight or ISO instant), status and giveaway', async () => {
    const kv = new MemoryKV();
    await seedLead(kv, meta({ e: 'old@beispiel.de', c: '2026-11-30T22:59:59.000Z' }), fakeId(1)); // 30.11. 23:59 Berlin
    await seedLead(
      kv,
      meta({ e: 'new@beispiel.de', c: '2026-11-30T23:00:00.000Z', s: 'confirmed', g: 1 }),
      fakeId(2),
    ); // 1.12. 00:00
    await seedLead(kv, meta({ e: 'later@beispiel.de', c: '2026-12-02T12:00:00.000Z', g: 1 }), fakeId(3));
    const emails = async (q: string) =>
      text((await exportOf(kv, `format=ndjson&${q}`)).bytes)
        .trimEnd()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).email);
    expect(await emails('since=2026-12-01')).toEqual(['new@beispiel.de', 'later@beispiel.de']);
    expect(await emails('since=2026-12-02T11:00:00%2B01:00')).toEqual(['later@beispiel.de']);
    expect(await emails('status=confirmed')).toEqual(['new@beispiel.de']);
    expect(await emails('giveaway=1')).toEqual(['new@beispiel.de', 'later@beispiel.de']);
    expect(await emails('giveaway=1&status=pending&since=2026-12-01')).toEqual(['later@beispiel.de']);
  });

  it('answers 400 with a clear German message for bad parameters', async () => {
    const kv = new MemoryKV();
    const cases: [string, RegExp][] = [
      ['format=xlsx', /Unbekanntes Format/],
      ['status=bestaetigt', /Unbekannter Status/],
      ['giveaway=true', /giveaway erlaubt nur den Wert 1/],
      ['since=gestern', /Ungültiges Datum/],
      ['since=2026-02-30', /Ungültiges Datum/],
      ['since=2026-12-01T10:00:00', /Ungültiges Datum/], // no zone
      [`since=${'2026-12-01'.padEnd(60, '0')}`, /zu lang/],
      ['satus=confirmed', /Unbekannter Parameter/],
      ['format=csv&format=excel', /nur einmal/],
    ];
    for (const [q, message] of cases) {
      const res = await request(`/api/admin/leads?${q}`, { headers: OPS() }, { LEADS: kv });
      expect(res.status, q).toBe(400);
      expect(((await res.json()) as { error: string }).error, q).toMatch(message);
    }
    expect(kv.counts.list).toBe(0);
  });

  it('reads 2500 leads with 3 list calls and no get', async () => {
    const kv = new MemoryKV();
    for (let i = 0; i < 2500; i++)
      await seedLead(kv, meta({ e: `bulk${i}@beispiel.de` }), fakeId(10_000 + i));
    kv.counts = { get: 0, put: 0, delete: 0, list: 0 };
    const { res, bytes } = await exportOf(kv, 'format=csv');
    expect(res.status).toBe(200);
    expect(parseCsv(text(bytes), ',')).toHaveLength(2501);
    expect(kv.counts.list).toBe(3);
    expect(kv.counts.get).toBe(0);
  });

  it('skips leads with corrupt metadata, exports the rest and audits the skipped count', async () => {
    const kv = new MemoryKV();
    await seedLead(kv, meta({ e: 'good@beispiel.de' }), fakeId(1));
    await kv.put(`lead:${fakeId(2)}`, '{}', { metadata: { e: 42, s: 'weird' } });
    await kv.put(`lead:${fakeId(3)}`, '{}');
    const { res, bytes } = await exportOf(kv, 'format=ndjson');
    expect(res.status).toBe(200);
    expect(text(bytes).trimEnd().split('\n')).toHaveLength(1);
    const audit = [...kv.data.entries()].filter(([k]) => k.startsWith('audit:')).map(([, e]) => e.metadata);
    expect(audit).toContainEqual(
      expect.objectContaining({
        action: 'leads.exported',
        detail: expect.objectContaining({ rows: 1, skipped: 2, complete: true }),
      }),
    );
  });

  it('audits the export with who, format and counts, and no address', async () => {
    const kv = new MemoryKV();
    await seedLead(kv, meta({ e: 'secret.person@beispiel.de' }), fakeId(1));
    await exportOf(kv, 'format=excel&giveaway=1');
    const audit = [...kv.data.entries()].filter(([k]) => k.startsWith('audit:')).map(([, e]) => e.metadata);
    expect(audit).toEqual([
      expect.objectContaining({
        role: 'ops',
        id: 'token:ops',
        action: 'leads.exported',
        detail: expect.objectContaining({ format: 'excel', rows: 0, giveaway: true }),
      }),
    ]);
    expect(JSON.stringify(audit)).not.toContain('secret.person');
  });

  it('breaks the stream (no silent truncation) when KV fails mid-way', async () => {
    const kv = new MemoryKV();
    for (let i = 0; i < 1500; i++) await seedLead(kv, meta({ e: `f${i}@beispiel.de` }), fakeId(20_000 + i));
    kv.failLists = true;
    const res = await request('/api/admin/leads?format=csv', { headers: OPS() }, { LEADS: kv });
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });

  it('refuses marketing (403) and anonymous callers (401)', async () => {
    const kv = new MemoryKV();
    expect((await request('/api/admin/leads', { headers: MARKETING() }, { LEADS: kv })).status).toBe(403);
    expect((await request('/api/admin/leads', {}, { LEADS: kv })).status).toBe(401);
    expect(kv.counts.list).toBe(0);
  });
});

describe('GET /api/admin/leads against the real KV binding', () => {
  it('exports a lead registered through the form', async () => {
    const email = uniqueEmail('echt');
    await postJson({ email, privacy: true, firstName: 'Käthe', giveaway: true, utm_source: 'podcast' });
    const res = await SELF.fetch(`${ORIGIN}/api/admin/leads?format=ndjson&giveaway=1`, { headers: OPS() });
    expect(res.status).toBe(200);
    const rows = (await res.text())
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.find((r) => r.email === email)).toMatchObject({
      firstName: 'Käthe',
      status: 'pending',
      giveaway: true,
      utm_source: 'podcast',
    });
  });
});

describe('parseSince', () => {
  it('takes a date as midnight in Europe/Berlin, summer and winter', () => {
    expect(new Date(parseSince('2026-12-01')!).toISOString()).toBe('2026-11-30T23:00:00.000Z');
    expect(new Date(parseSince('2026-07-01')!).toISOString()).toBe('2026-06-30T22:00:00.000Z');
    expect(parseSince('2026-13-01')).toBeNull();
    expect(parseSince('1999-01-01')).toBeNull();
  });
});
