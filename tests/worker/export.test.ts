import { env, SELF } from 'cloudflare:test';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseSince } from '../../worker/berlin-time';
import { csvField, EXPORT_PAGE, neutralise } from '../../worker/lead-export';
import { parseCsv } from '../helpers/csv.mjs';
import {
  emptyPersonData,
  fakeId,
  insertLeads,
  MARKETING,
  OPS,
  ORIGIN,
  recordingDb,
  request,
  seedLead,
} from './admin-helpers';
import { postJson, uniqueEmail } from './helpers';
import { logMark, logsSince } from './log-privacy-setup';
import { readAudit } from '../../worker/audit-log';

const T0 = Date.parse('2026-11-20T10:00:00.000Z');

async function exportOf(query: string, bindings: Partial<Env> = {}) {
  const res = await request(`/api/admin/leads?${query}`, { headers: OPS() }, bindings);
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
}

const text = (b: Uint8Array) => new TextDecoder('utf-8', { ignoreBOM: true }).decode(b);
const ndjson = (b: Uint8Array) =>
  text(b)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

beforeEach(emptyPersonData);
afterEach(() => vi.useRealTimers());

describe('CSV cells', () => {
  it('neutralises formula starts with a single quote (OWASP)', () => {
    for (const start of ['=', '+', '-', '@', '\t', '\r'])
      expect(neutralise(`${start}HYPERLINK("http://x")`)).toBe(`'${start}HYPERLINK("http://x")`);
    expect(neutralise('Jürgen')).toBe('Jürgen');
    expect(neutralise('a=b')).toBe('a=b');
  });

  it('neutralises a formula after either separator, so neither Excel nor a comma tool runs it', () => {
    // The comma CSV opened in German Excel splits at ';', the Excel preset elsewhere at ','.
    expect(neutralise(';=1+1')).toBe(";'=1+1");
    expect(neutralise('quelle,=HYPERLINK("x")')).toBe(`quelle,'=HYPERLINK("x")`);
    expect(neutralise('a;+b,-c;@d')).toBe("a;'+b,'-c;'@d");
    expect(neutralise('＝1+1')).toBe("'＝1+1");
    expect(neutralise('1;2,3')).toBe('1;2,3');
  });

  it('quotes every field and doubles inner quotes', () => {
    expect(csvField('abc', ',')).toBe('"abc"');
    expect(csvField('a,b', ',')).toBe('"a,b"');
    expect(csvField('a;b', ',')).toBe('"a;b"');
    expect(csvField('sagt "hallo"', ',')).toBe('"sagt ""hallo"""');
    expect(csvField('zwei\nZeilen', ',')).toBe('"zwei\nZeilen"');
    expect(csvField('=1+2;3', ';')).toBe(`"'=1+2;3"`);
    expect(csvField('', ';')).toBe('""');
  });
});

describe('GET /api/admin/leads', () => {
  it('streams RFC 4180 CSV with a header row; tricky names survive a round trip', async () => {
    vi.useFakeTimers({ now: Date.parse('2026-11-30T23:30:00.000Z'), toFake: ['Date'] }); // 1.12. in Berlin
    const names = [
      'Jürgen Öztürk-Weiß',
      'O"Brien',
      'Anna, Maria',
      'zwei\r\nZeilen',
      '=HYPERLINK("http://böse.example","klick")',
    ];
    await insertLeads(
      names.map((n, i) => ({
        id: fakeId(i + 1),
        email: `name${i}@beispiel.de`,
        first_name: n,
        created_at: T0 + i,
        utm_source: i === 0 ? '+newsletter' : null,
      })),
    );
    const { res, bytes } = await exportOf('format=csv');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv; charset=utf-8/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="leads-2026-12-01.csv"');
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
    expect(rows[1][4]).toBe(new Date(T0).toISOString());
  });

  it('excel: UTF-8 BOM, semicolons, CRLF, German headers and values', async () => {
    const lead = await seedLead({
      email: 'gruesse@beispiel.de',
      firstName: 'Jörg',
      at: T0,
      confirmAt: T0 + 3_600_000,
      status: 'confirmed',
      giveaway: true,
      // Reduced to its token characters at registration: no separator reaches the file.
      utm_source: 'podcast; folge 3',
    });
    const { res, bytes } = await exportOf('format=excel');
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
      lead.id,
      'gruesse@beispiel.de',
      'Jörg',
      'bestätigt',
      new Date(T0).toISOString(),
      new Date(T0 + 3_600_000).toISOString(),
      'vor dem Webinar',
      'ja',
      'nein',
      'podcastfolge3',
      '',
      '',
    ]);
  });

  it('ndjson: one object per lead with email, status and createdAt, raw values', async () => {
    await insertLeads([
      {
        id: fakeId(1),
        email: 'a@beispiel.de',
        first_name: '=raw',
        created_at: T0,
        consents: { privacy: 'confirmed', newsletter: 'confirmed' },
        status: 'confirmed',
        confirmed_at: T0,
      },
      { id: fakeId(2), email: 'b@beispiel.de', created_at: T0 + 1, status: 'unsubscribed' },
    ]);
    const { res, bytes } = await exportOf('format=ndjson');
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const lines = ndjson(bytes);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toEqual({
      id: fakeId(1),
      email: 'a@beispiel.de',
      firstName: '=raw',
      status: 'confirmed',
      createdAt: new Date(T0).toISOString(),
      confirmedAt: new Date(T0).toISOString(),
      phase: 'before',
      giveaway: false,
      newsletter: true,
      utm_source: null,
      utm_medium: null,
      utm_campaign: null,
    });
    expect(lines[1]).toMatchObject({ email: 'b@beispiel.de', status: 'unsubscribed', firstName: null });
  });

  it('shows giveaway and newsletter only for a confirmed consent that was not withdrawn', async () => {
    const pending = await seedLead({ at: T0, giveaway: true, newsletter: true });
    const confirmed = await seedLead({ at: T0, status: 'confirmed', giveaway: true, newsletter: true });
    // Unsubscribing withdraws the newsletter; the giveaway entry stays confirmed.
    const gone = await seedLead({ at: T0, status: 'unsubscribed', giveaway: true, newsletter: true });
    const byId = new Map(ndjson((await exportOf('format=ndjson')).bytes).map((l) => [l.id, l]));
    expect(byId.get(pending.id)).toMatchObject({ giveaway: false, newsletter: false });
    expect(byId.get(confirmed.id)).toMatchObject({ giveaway: true, newsletter: true });
    expect(byId.get(gone.id)).toMatchObject({ giveaway: true, newsletter: false });
  });

  it('filters by since (Berlin midnight or ISO instant), status and giveaway', async () => {
    // 30.11. 23:59:59 and 1.12. 00:00 in Berlin.
    await seedLead({ email: 'old@beispiel.de', at: Date.parse('2026-11-30T22:59:59.000Z'), giveaway: true });
    await seedLead({
      email: 'new@beispiel.de',
      at: Date.parse('2026-11-30T23:00:00.000Z'),
      status: 'confirmed',
      giveaway: true,
    });
    await seedLead({
      email: 'later@beispiel.de',
      at: Date.parse('2026-12-02T12:00:00.000Z'),
      giveaway: true,
    });
    const emails = async (q: string) =>
      ndjson((await exportOf(`format=ndjson&${q}`)).bytes)
        .map((l) => l.email)
        .sort();
    expect(await emails('since=2026-12-01')).toEqual(['later@beispiel.de', 'new@beispiel.de']);
    expect(await emails('since=2026-12-02T11:00:00%2B01:00')).toEqual(['later@beispiel.de']);
    expect(await emails('status=confirmed')).toEqual(['new@beispiel.de']);
    // Entries count once confirmed: a pending giveaway consent is not an entry yet.
    expect(await emails('giveaway=1')).toEqual(['new@beispiel.de']);
    expect(await emails('status=pending&since=2026-12-01')).toEqual(['later@beispiel.de']);
  });

  it('answers 400 with a clear German message for bad parameters, before reading any lead', async () => {
    const { db, sql } = recordingDb();
    const cases: [string, RegExp][] = [
      ['format=xlsx', /Unbekanntes Format/],
      ['status=bestaetigt', /Unbekannter Status/],
      ['giveaway=true', /giveaway erlaubt nur den Wert 1/],
      ['eligible=ja', /eligible erlaubt nur den Wert 1/],
      ['since=gestern', /Ungültiges Datum/],
      ['since=2026-02-30', /Ungültiges Datum/],
      ['since=2026-12-01T10:00:00', /Ungültiges Datum/], // no zone
      [`since=${'2026-12-01'.padEnd(60, '0')}`, /zu lang/],
      ['satus=confirmed', /Unbekannter Parameter/],
      ['format=csv&format=excel', /nur einmal/],
    ];
    for (const [q, message] of cases) {
      const res = await request(`/api/admin/leads?${q}`, { headers: OPS() }, { DB: db });
      expect(res.status, q).toBe(400);
      expect(((await res.json()) as { error: string }).error, q).toMatch(message);
    }
    expect(sql.filter((s) => /\bFROM leads\b/.test(s))).toEqual([]);
  });

  it(`reads 2500 leads in pages of ${EXPORT_PAGE}: three queries, every lead once, in id order`, async () => {
    const ids = Array.from({ length: 2500 }, (_, i) => fakeId(10_000 + i));
    // Inserted in reverse, so the id order comes from the query, not from insertion.
    await insertLeads(
      [...ids].reverse().map((id, i) => ({ id, email: `bulk${i}@beispiel.de`, created_at: T0 + i })),
    );
    const mark = logMark();
    const { res, bytes } = await exportOf('format=csv');
    expect(res.status).toBe(200);
    const rows = parseCsv(text(bytes), ',');
    expect(rows.slice(1).map((r) => r[0])).toEqual(ids);
    const done = logsSince(mark).find((l) => l.text.includes('"event":"export.done"'));
    expect(JSON.parse(done!.text)).toMatchObject({ rows: 2500, queries: 3, complete: true });
  });

  it('audits the export with who, format, filters and counts, and no address', async () => {
    await seedLead({ email: 'secret.person@beispiel.de', at: T0, status: 'confirmed', giveaway: true });
    await exportOf('format=excel&giveaway=1');
    const { entries } = await readAudit(env.DB, { limit: 10 });
    expect(entries).toEqual([
      expect.objectContaining({
        role: 'ops',
        id: 'token:ops',
        action: 'leads.exported',
        detail: { format: 'excel', rows: 1, complete: true, giveaway: true },
      }),
    ]);
    expect(JSON.stringify(entries)).not.toContain('secret.person');
  });

  it('breaks the stream (no silent truncation) when D1 fails mid-way, and audits it as incomplete', async () => {
    await insertLeads(
      Array.from({ length: 1500 }, (_, i) => ({
        id: fakeId(20_000 + i),
        email: `f${i}@b.de`,
        created_at: T0,
      })),
    );
    let pages = 0;
    const failing = new Proxy(env.DB, {
      get(target, prop) {
        if (prop !== 'prepare') return Reflect.get(target, prop);
        return (query: string) => {
          const stmt = target.prepare(query);
          if (!/FROM leads l WHERE l\.id > \?1/.test(query)) return stmt;
          return {
            bind: (...args: unknown[]) => ({
              all: async () => {
                if (++pages > 1) throw new Error('D1_ERROR: injected');
                return stmt.bind(...args).all();
              },
            }),
          };
        };
      },
    });
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await request('/api/admin/leads?format=csv', { headers: OPS() }, { DB: failing });
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
    const { entries } = await readAudit(env.DB, { limit: 10 });
    expect(entries[0]).toMatchObject({ action: 'leads.exported', detail: { rows: 1000, complete: false } });
  });

  it('refuses marketing (403) and anonymous callers (401) without reading a lead', async () => {
    const { db, sql } = recordingDb();
    expect((await request('/api/admin/leads', { headers: MARKETING() }, { DB: db })).status).toBe(403);
    expect((await request('/api/admin/leads', {}, { DB: db })).status).toBe(401);
    expect(sql.filter((s) => /\bFROM leads\b/.test(s))).toEqual([]);
  });
});

describe('GET /api/admin/leads through the whole worker', () => {
  it('exports a lead registered through the form', async () => {
    const email = uniqueEmail('echt');
    expect(
      (await postJson({ email, privacy: true, firstName: 'Käthe', giveaway: true, utm_source: 'podcast' }))
        .status,
    ).toBe(200);
    const res = await SELF.fetch(`${ORIGIN}/api/admin/leads?format=ndjson`, { headers: OPS() });
    expect(res.status).toBe(200);
    const rows = (await res.text())
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.find((r) => r.email === email)).toMatchObject({
      firstName: 'Käthe',
      status: 'pending',
      giveaway: false,
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
