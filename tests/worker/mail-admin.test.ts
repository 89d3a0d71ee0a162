import { env, SELF } from 'cloudflare:test';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { app } from '../../worker/app';
import { readAudit } from '../../worker/audit-log';
import {
  DEAD_LETTER_PAGE,
  deadLetterKey,
  deleteDeadLetter,
  getDeadLetter,
  listDeadLetters,
  purgeDeadLetters,
  storeDeadLetter,
} from '../../worker/mail/dead-letters';
import { recordOutbox, type OutboxMail } from '../../worker/mail/outbox';
import { sendMail } from '../../worker/mail/sender';
import { eraseAddress } from '../../worker/store/lead-store';
import { emptyPersonData, fakeId, insertLeads, seedLead } from './admin-helpers';
import { uniqueEmail } from './helpers';
import { fakeEmail, fakeQueue, runQueue } from './mail-helpers';

const BASE = 'https://webinar.test';
const OPS = { authorization: `Bearer ${env.OPS_TOKEN}` };
const MARKETING = { authorization: `Bearer ${env.MARKETING_TOKEN}` };

const retry = (key: string, headers: Record<string, string>, overrides: Partial<Env> = {}) =>
  app.request(
    '/api/admin/mail/dead-letters/retry',
    {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ key }),
    },
    { ...env, ...overrides },
  );

const mailJob = (leadId: string, kind = 'confirm') => ({
  type: 'mail',
  kind,
  leadId,
  requestedAt: Date.now(),
});
const failure = (reason: string, failedAt = new Date(), attempts = 6) => ({
  kind: 'confirm',
  reason,
  attempts,
  failedAt: failedAt.toISOString(),
});
const errorOf = async (res: Response) => ((await res.json()) as { error: string }).error;

beforeEach(emptyPersonData);
afterEach(() => vi.useRealTimers());

describe('dead letters for ops', () => {
  it('keeps no address in a stored reason, even when the upstream error quoted one', async () => {
    const { id, email } = await seedLead({ at: Date.now() });
    const job = mailJob(id);
    const key = deadLetterKey(job, 'msg-1');
    expect(key).toBe(`confirm:${id}`);
    await storeDeadLetter(
      env.DB,
      key,
      job,
      failure(`Versand fehlgeschlagen: Error: email to ${email} not allowed`),
    );
    const res = await SELF.fetch(`${BASE}/api/admin/mail/dead-letters`, { headers: OPS });
    const { entries } = (await res.json()) as { entries: { key: string; reason: string }[] };
    expect(entries.find((e) => e.key === key)?.reason).toBe(
      'Versand fehlgeschlagen: Error: email to [email] not allowed',
    );
    expect(JSON.stringify(await env.DB.prepare('SELECT * FROM dead_letters').all())).not.toContain(email);
  });

  it('lists failed jobs with their reason and requeues one on retry; the mail then goes out once', async () => {
    const { id, email } = await seedLead({ email: uniqueEmail('dlq'), at: Date.now() - 5000 });
    const job = mailJob(id);
    await storeDeadLetter(env.DB, `confirm:${id}`, job, failure('Versand fehlgeschlagen: E_DELIVERY_FAILED'));

    const list = await SELF.fetch(`${BASE}/api/admin/mail/dead-letters`, { headers: OPS });
    expect(list.status).toBe(200);
    expect(list.headers.get('cache-control')).toBe('no-store');
    const body = (await list.json()) as { entries: { key: string; reason: string; kind: string }[] };
    expect(body.entries).toEqual([
      expect.objectContaining({
        key: `confirm:${id}`,
        kind: 'confirm',
        reason: expect.stringContaining('E_DELIVERY'),
      }),
    ]);
    expect(JSON.stringify(body)).not.toContain(email);

    const queue = fakeQueue();
    const res = await retry(`confirm:${id}`, OPS, { MAIL_QUEUE: queue.binding });
    expect(res.status).toBe(200);
    expect(queue.messages).toEqual([job]);
    expect(await getDeadLetter(env.DB, `confirm:${id}`)).toBeNull();
    expect((await readAudit(env.DB, { limit: 5 })).entries.map((e) => e.action)).toContain('mail.retried');

    const mail = fakeEmail();
    await runQueue('webinar-mail', [{ body: queue.messages[0] }, { body: queue.messages[0] }], {
      EMAIL: mail.binding,
    });
    expect(mail.sent.map((m) => m.to)).toEqual([email]);
  });

  it('keeps one entry per (kind, lead): a job that fails again replaces its own entry', async () => {
    const { id } = await seedLead({ at: Date.now() });
    const key = deadLetterKey(mailJob(id), 'msg-a');
    await storeDeadLetter(
      env.DB,
      key,
      mailJob(id),
      failure('erster Fehler', new Date(Date.now() - 60_000), 6),
    );
    await storeDeadLetter(
      env.DB,
      deadLetterKey(mailJob(id), 'msg-b'),
      mailJob(id),
      failure('zweiter Fehler'),
    );
    const { entries } = await listDeadLetters(env.DB);
    expect(entries).toEqual([expect.objectContaining({ key, reason: 'zweiter Fehler' })]);
  });

  it('lists the latest failure first, page by page, each entry once', async () => {
    const count = DEAD_LETTER_PAGE + 5;
    const ids = Array.from({ length: count }, (_, i) => fakeId(500 + i));
    await insertLeads(ids.map((id, i) => ({ id, email: `dl${i}@beispiel.de`, created_at: 0 })));
    const base = Date.parse('2026-11-20T10:00:00.000Z');
    // Two entries share each failure time, so the page boundary falls within equal times.
    for (const [i, id] of ids.entries())
      await storeDeadLetter(
        env.DB,
        `welcome:${id}`,
        mailJob(id, 'welcome'),
        failure('x', new Date(base + Math.floor(i / 2))),
      );
    const first = await SELF.fetch(`${BASE}/api/admin/mail/dead-letters`, { headers: OPS });
    const p1 = (await first.json()) as { entries: { key: string; failedAt: string }[]; cursor?: string };
    expect(p1.entries).toHaveLength(DEAD_LETTER_PAGE);
    expect(p1.cursor).toBeDefined();
    const second = await SELF.fetch(
      `${BASE}/api/admin/mail/dead-letters?cursor=${encodeURIComponent(p1.cursor!)}`,
      { headers: OPS },
    );
    const p2 = (await second.json()) as { entries: { key: string; failedAt: string }[]; cursor?: string };
    expect(p2.cursor).toBeUndefined();
    const all = [...p1.entries, ...p2.entries];
    expect(new Set(all.map((e) => e.key)).size).toBe(count);
    const times = all.map((e) => Date.parse(e.failedAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it('goes with its lead on erasure, is not kept for a lead that is gone, and expires after 30 days', async () => {
    const erased = await seedLead({ at: Date.now() });
    await storeDeadLetter(env.DB, `confirm:${erased.id}`, mailJob(erased.id), failure('x'));
    await eraseAddress(env.DB, env.LEAD_KEY_SECRET, erased.email, { atMs: Date.now(), by: 'ops' });
    expect(await getDeadLetter(env.DB, `confirm:${erased.id}`)).toBeNull();
    expect(await storeDeadLetter(env.DB, `confirm:${erased.id}`, mailJob(erased.id), failure('x'))).toBe(
      false,
    );

    const now = Date.parse('2026-12-01T12:00:00.000Z');
    const old = await seedLead({ at: now });
    const recent = await seedLead({ at: now });
    await storeDeadLetter(
      env.DB,
      `confirm:${old.id}`,
      mailJob(old.id),
      failure('alt', new Date(now - 31 * 86_400_000)),
    );
    await storeDeadLetter(
      env.DB,
      `confirm:${recent.id}`,
      mailJob(recent.id),
      failure('neu', new Date(now - 29 * 86_400_000)),
    );
    expect(await purgeDeadLetters(env.DB, now)).toBe(1);
    expect((await listDeadLetters(env.DB)).entries.map((e) => e.reason)).toEqual(['neu']);

    await deleteDeadLetter(env.DB, `confirm:${recent.id}`);
    expect((await listDeadLetters(env.DB)).entries).toEqual([]);
  });

  it('refuses marketing and anonymous callers on every mail ops route', async () => {
    for (const [path, init] of [
      ['/api/admin/mail/dead-letters', {}],
      ['/api/admin/dev/outbox', {}],
      [
        '/api/admin/mail/dead-letters/retry',
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"key":"confirm:x"}' },
      ],
    ] as const) {
      const marketing = await SELF.fetch(BASE + path, {
        ...init,
        headers: { ...(init as RequestInit).headers, ...MARKETING },
      });
      expect(marketing.status).toBe(403);
      const anonymous = await SELF.fetch(BASE + path, init as RequestInit);
      expect(anonymous.status).toBe(401);
    }
  });

  it('answers an unknown, malformed or invalid dead letter with a clear message', async () => {
    expect((await retry('confirm:nothere', OPS)).status).toBe(404);
    const bad = await retry('../lead', OPS);
    expect(bad.status).toBe(400);
    expect(await errorOf(bad)).toContain('kein Auftrag der Fehlerliste');
    await storeDeadLetter(env.DB, 'invalid:m1', 'garbage', {
      kind: 'ungültig',
      reason: 'Ungültiger Auftrag',
      attempts: 1,
      failedAt: new Date().toISOString(),
    });
    const invalid = await retry('invalid:m1', OPS);
    expect(invalid.status).toBe(422);
    expect(await errorOf(invalid)).toMatch(/ungültig und kann nicht erneut gesendet werden/);
  });
});

const outboxMail = (over: Partial<OutboxMail> = {}): OutboxMail => ({
  to: 'older@beispiel.de',
  subject: 'älter',
  text: 'x',
  html: '<p>x</p>',
  sentAt: new Date().toISOString(),
  kind: 'welcome',
  headers: {},
  attachments: [],
  ...over,
});

describe('GET /api/admin/dev/outbox', () => {
  it('lists the mails sent, newest first, kind confirm for a confirmation, with every link as a full URL', async () => {
    const lead = await seedLead({ at: Date.now() - 5000, status: 'pending' });
    await recordOutbox(env.DB, outboxMail({ sentAt: new Date(Date.now() - 60_000).toISOString() }));
    await runQueue('webinar-mail', [{ body: { ...mailJob(lead.id), origin: 'http://127.0.0.1:4600' } }], {
      EMAIL: fakeEmail().binding,
    });
    const res = await SELF.fetch(`${BASE}/api/admin/dev/outbox`, { headers: OPS });
    expect(res.status).toBe(200);
    const { mails } = (await res.json()) as {
      mails: { to: string; subject: string; html: string; sentAt: string; kind: string; links: string[] }[];
    };
    expect(mails.map((m) => m.kind)).toEqual(['confirm', 'welcome']);
    expect(mails[0]).toMatchObject({
      to: lead.email,
      subject: 'Bitte bestätigen Sie Ihre Anmeldung zum Webinar',
    });
    expect(mails[0].html).toContain('<html lang="de">');
    expect(mails[0].links.some((l) => l.startsWith('http://127.0.0.1:4600/bestaetigen?t='))).toBe(true);
    for (const link of mails[0].links) expect(new URL(link).href).toBe(link);
    const times = mails.map((m) => Date.parse(m.sentAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it('finds links in the HTML part too, with character references decoded, each once', async () => {
    await recordOutbox(
      env.DB,
      outboxMail({
        text: 'Bestätigen: https://webinar.test/bestaetigen?t=abc&x=1\nImpressum: https://webinar.test/impressum',
        html:
          '<a href="https://webinar.test/bestaetigen?t=abc&amp;x=1">Bestätigen</a>' +
          '<a href=\'https://webinar.test/abmelden?t=def\'>Abmelden</a><a href="mailto:info@beispiel.de">Post</a>',
      }),
    );
    const { mails } = (await (await SELF.fetch(`${BASE}/api/admin/dev/outbox`, { headers: OPS })).json()) as {
      mails: { links: string[] }[];
    };
    expect(mails[0].links).toEqual([
      'https://webinar.test/bestaetigen?t=abc&x=1',
      'https://webinar.test/abmelden?t=def',
      'mailto:info@beispiel.de',
      'https://webinar.test/impressum',
    ]);
  });

  it('takes limit from 1 to 200 and answers anything else with a German 400', async () => {
    for (let i = 0; i < 3; i++)
      await recordOutbox(
        env.DB,
        outboxMail({ subject: `Mail ${i}`, sentAt: new Date(Date.now() - i * 1000).toISOString() }),
      );
    const get = (q: string) => SELF.fetch(`${BASE}/api/admin/dev/outbox${q}`, { headers: OPS });
    const one = (await (await get('?limit=1')).json()) as { mails: { subject: string }[] };
    expect(one.mails.map((m) => m.subject)).toEqual(['Mail 0']);
    expect((await get('?limit=200')).status).toBe(200);
    for (const bad of ['0', '201', '-1', '1.5', 'viele', '']) {
      const res = await get(`?limit=${bad}`);
      expect(res.status, bad).toBe(400);
      expect(await errorOf(res), bad).toBe(
        'Der Wert für limit muss eine ganze Zahl zwischen 1 und 200 sein.',
      );
    }
  });

  it('drops mails older than a day when the next one is recorded', async () => {
    const now = Date.now();
    await recordOutbox(
      env.DB,
      outboxMail({ subject: 'alt', sentAt: new Date(now - 25 * 3_600_000).toISOString() }),
    );
    await recordOutbox(env.DB, outboxMail({ subject: 'neu', sentAt: new Date(now).toISOString() }));
    const rows = await env.DB.prepare('SELECT subject FROM dev_outbox').all<{ subject: string }>();
    expect(rows.results.map((r) => r.subject)).toEqual(['neu']);
  });

  it('is off unless DEV_OUTBOX is "1"', async () => {
    const res = await app.request('/api/admin/dev/outbox', { headers: OPS }, { ...env, DEV_OUTBOX: '' });
    expect(res.status).toBe(404);
    expect(await errorOf(res)).toContain('DEV_OUTBOX');
  });

  it('keeps no copy of a sent mail in production, even with DEV_OUTBOX="1"', async () => {
    const production = { ...env, DEV_OUTBOX: '1', ENVIRONMENT: 'production' };
    const email = `prod.outbox.${crypto.randomUUID()}@beispiel.de`;
    const fake = fakeEmail();
    await sendMail(
      { ...production, EMAIL: fake.binding },
      {
        kind: 'confirm',
        to: email,
        fromName: 'Webinar',
        subject: 'Test',
        text: 'Hallo',
        html: '<p>Hallo</p>',
        headers: {},
      },
    );
    expect(fake.sent.map((m) => m.to)).toEqual([email]);
    expect((await env.DB.prepare('SELECT COUNT(*) AS n FROM dev_outbox').first())?.n).toBe(0);
    const res = await app.request('/api/admin/dev/outbox', { headers: OPS }, production);
    expect(res.status).toBe(404);
  });
});
