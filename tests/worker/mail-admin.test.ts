import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../worker/app';
import { readAudit } from '../../worker/audit-log';
import { storeDeadLetter } from '../../worker/mail/dead-letters';
import { recordOutbox } from '../../worker/mail/outbox';
import { sendMail } from '../../worker/mail/sender';
import { fakeEmail, fakeQueue, makeLead, runQueue } from './mail-helpers';

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

describe('dead letters for ops', () => {
  it('keeps no address in a stored reason, even when the upstream error quoted one', async () => {
    const { id, email } = await makeLead('pending', 'dlq-reason');
    const key = `dlq:confirm:${id}:reason`;
    await storeDeadLetter(
      env.LEADS,
      key,
      { leadId: id },
      {
        kind: 'confirm',
        reason: `Versand fehlgeschlagen: Error: email to ${email} not allowed`,
        attempts: 6,
        failedAt: new Date().toISOString(),
      },
    );
    const res = await SELF.fetch(`${BASE}/api/admin/mail/dead-letters`, { headers: OPS });
    const { entries } = (await res.json()) as { entries: { key: string; reason: string }[] };
    const entry = entries.find((e) => e.key === key);
    expect(entry?.reason).toBe('Versand fehlgeschlagen: Error: email to [email] not allowed');
    await env.LEADS.delete(key);
  });

  it('lists failed jobs with their reason and requeues one on retry; the mail then goes out once', async () => {
    const { id, email } = await makeLead('pending', 'dlq');
    const job = { type: 'mail', kind: 'confirm', leadId: id, requestedAt: Date.now() };
    await storeDeadLetter(env.LEADS, `dlq:confirm:${id}`, job, {
      kind: 'confirm',
      reason: 'Versand fehlgeschlagen: E_DELIVERY_FAILED',
      attempts: 6,
      failedAt: new Date().toISOString(),
    });

    const list = await SELF.fetch(`${BASE}/api/admin/mail/dead-letters`, { headers: OPS });
    expect(list.status).toBe(200);
    expect(list.headers.get('cache-control')).toBe('no-store');
    const body = (await list.json()) as { entries: { key: string; reason: string; kind: string }[] };
    expect(body.entries).toContainEqual(
      expect.objectContaining({
        key: `dlq:confirm:${id}`,
        kind: 'confirm',
        reason: expect.stringContaining('E_DELIVERY'),
      }),
    );
    expect(JSON.stringify(body)).not.toContain(email);

    const queue = fakeQueue();
    const res = await retry(`dlq:confirm:${id}`, OPS, { MAIL_QUEUE: queue.binding });
    expect(res.status).toBe(200);
    expect(queue.messages).toEqual([job]);
    expect(await env.LEADS.get(`dlq:confirm:${id}`)).toBeNull();
    expect((await readAudit(env.LEADS, { limit: 5 })).entries.map((e) => e.action)).toContain('mail.retried');

    const mail = fakeEmail();
    await runQueue('webinar-mail', [{ body: queue.messages[0] }, { body: queue.messages[0] }], {
      EMAIL: mail.binding,
    });
    expect(mail.sent.map((m) => m.to)).toEqual([email]);
  });

  it('refuses marketing and anonymous callers on every mail ops route', async () => {
    for (const [path, init] of [
      ['/api/admin/mail/dead-letters', {}],
      ['/api/admin/dev/outbox', {}],
      [
        '/api/admin/mail/dead-letters/retry',
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"key":"dlq:confirm:x"}' },
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
    expect((await retry('dlq:confirm:nothere', OPS)).status).toBe(404);
    const bad = await retry('lead:abc', OPS);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain('kein Auftrag der Fehlerliste');
    await storeDeadLetter(env.LEADS, 'dlq:invalid:m1', 'garbage', {
      kind: 'ungültig',
      reason: 'Ungültiger Auftrag',
      attempts: 1,
      failedAt: new Date().toISOString(),
    });
    const invalid = await retry('dlq:invalid:m1', OPS);
    expect(invalid.status).toBe(422);
    expect(((await invalid.json()) as { error: string }).error).toMatch(
      /ungültig und kann nicht erneut gesendet werden/,
    );
  });
});

describe('GET /api/admin/dev/outbox', () => {
  it('lists the mails sent, newest first, with their links', async () => {
    const { id, email } = await makeLead('pending', 'outbox');
    await recordOutbox(env.LEADS, {
      to: 'older@beispiel.de',
      subject: 'älter',
      text: 'x',
      html: '<p>x</p>',
      sentAt: new Date(Date.now() - 60_000).toISOString(),
      kind: 'confirm',
      headers: {},
      attachments: [],
    });
    await runQueue(
      'webinar-mail',
      [
        {
          body: {
            type: 'mail',
            kind: 'confirm',
            leadId: id,
            requestedAt: Date.now(),
            origin: 'http://127.0.0.1:4600',
          },
        },
      ],
      {
        EMAIL: fakeEmail().binding,
      },
    );
    const res = await SELF.fetch(`${BASE}/api/admin/dev/outbox`, { headers: OPS });
    expect(res.status).toBe(200);
    const { mails } = (await res.json()) as {
      mails: { to: string; subject: string; text: string; html: string; sentAt: string; links: string[] }[];
    };
    expect(mails[0]).toMatchObject({ to: email, subject: 'Bitte bestätigen Sie Ihre Anmeldung zum Webinar' });
    expect(mails[0].html).toContain('<html lang="de">');
    expect(mails[0].links.some((l) => l.startsWith('http://127.0.0.1:4600/bestaetigen?t='))).toBe(true);
    const times = mails.map((m) => Date.parse(m.sentAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it('is off unless DEV_OUTBOX is "1"', async () => {
    const res = await app.request('/api/admin/dev/outbox', { headers: OPS }, { ...env, DEV_OUTBOX: '' });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toContain('DEV_OUTBOX');
  });

  it('keeps no copy of a sent mail in production, even with DEV_OUTBOX="1"', async () => {
    const production = { ...env, DEV_OUTBOX: '1', ENVIRONMENT: 'production' };
    const before = new Set((await env.LEADS.list({ prefix: 'devoutbox:' })).keys.map((k) => k.name));
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
    const after = (await env.LEADS.list({ prefix: 'devoutbox:' })).keys.filter((k) => !before.has(k.name));
    expect(fake.sent.map((m) => m.to)).toEqual([email]);
    expect(after).toEqual([]);
    const res = await app.request('/api/admin/dev/outbox', { headers: OPS }, production);
    expect(res.status).toBe(404);
  });
});
