import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../worker/config-store';
import { getLead, registerLead } from '../../worker/store/lead-store';
import { getDeadLetter } from '../../worker/mail/dead-letters';
import { MAIL_MAX_RETRIES, type DeadLetter } from '../../worker/mail/jobs';
import { fakeEmail, fakeQueue, makeLead, runQueue, sentCount, TEST_TEXTS } from './mail-helpers';

const START_MS = Date.parse(DEFAULT_CONFIG.webinar.start);
const job = (kind: string, leadId: string, extra: Record<string, unknown> = {}) => ({
  type: 'mail',
  kind,
  leadId,
  requestedAt: Date.now(),
  ...extra,
});

describe('mail queue consumer', () => {
  it('sends the confirmation in German with a confirm link, the unsubscribe headers and no user text', async () => {
    const { id, email } = await makeLead('pending');
    const mail = fakeEmail();
    const { result, ids } = await runQueue(
      'webinar-mail',
      [{ body: job('confirm', id, { origin: 'https://webinar.test' }) }],
      {
        EMAIL: mail.binding,
      },
    );
    expect(result.explicitAcks).toEqual(ids);
    expect(mail.sent).toHaveLength(1);
    const m = mail.sent[0];
    expect(m.to).toBe(email);
    expect(m.subject).toBe('Bitte bestätigen Sie Ihre Anmeldung zum Webinar');
    expect(m.text).toMatch(/https:\/\/webinar\.test\/bestaetigen\?t=[\w-]+\.[\w-]+/);
    expect(m.text).toContain('Donnerstag, 18. März 2027, 19:00 Uhr MEZ');
    expect(m.html).toContain('<html lang="de">');
    expect(m.html).toContain('Anmeldung bestätigen</a>');
    // The first name was "<b>Spam</b> https://spam.example": it must appear nowhere.
    expect(m.text + m.html + m.subject).not.toMatch(/Spam|spam\.example/);
    expect(m.headers['List-Unsubscribe']).toMatch(/^<https:\/\/webinar\.test\/abmelden\?t=[\w-]+\.[\w-]+>$/);
    expect(m.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
    expect(m.text).toMatch(/https:\/\/webinar\.test\/loeschen\?t=/);
    expect(await sentCount(id, 'confirm')).toBe(1);
  });

  it('sends nothing again when the same job is delivered a second time', async () => {
    const { id } = await makeLead('pending');
    const body = job('confirm', id);
    const first = fakeEmail();
    await runQueue('webinar-mail', [{ body }], { EMAIL: first.binding });
    const again = fakeEmail();
    const { result, ids } = await runQueue('webinar-mail', [{ body, attempts: 2 }], { EMAIL: again.binding });
    expect(first.sent).toHaveLength(1);
    expect(again.sent).toHaveLength(0);
    expect(result.explicitAcks).toEqual(ids);
  });

  it('sends one mail when a batch holds the same job twice', async () => {
    const { id } = await makeLead('confirmed');
    const mail = fakeEmail();
    const body = job('welcome', id);
    const { result, ids } = await runQueue('webinar-mail', [{ body }, { body }], { EMAIL: mail.binding });
    expect(mail.sent).toHaveLength(1);
    expect(result.explicitAcks.sort()).toEqual([...ids].sort());
  });

  it('retries with backoff when the EMAIL binding fails, and sends on the next attempt', async () => {
    const { id } = await makeLead('pending');
    const body = job('confirm', id);
    const broken = fakeEmail(true);
    const first = await runQueue('webinar-mail', [{ body }], { EMAIL: broken.binding });
    expect(first.result.explicitAcks).toEqual([]);
    expect(first.result.retryMessages).toEqual([{ msgId: first.ids[0] }]);
    expect(first.delays).toEqual([30]);
    expect(await sentCount(id, 'confirm')).toBe(0);

    const third = await runQueue('webinar-mail', [{ body, attempts: 3 }], { EMAIL: broken.binding });
    expect(third.delays).toEqual([480]);

    const working = fakeEmail();
    const later = await runQueue('webinar-mail', [{ body, attempts: 4 }], { EMAIL: working.binding });
    expect(working.sent).toHaveLength(1);
    expect(later.result.explicitAcks).toEqual(later.ids);
  });

  it('dead-letters the job with its reason after the last attempt', async () => {
    const { id } = await makeLead('pending');
    const dlq = fakeQueue();
    const { result, ids } = await runQueue(
      'webinar-mail',
      [{ body: job('confirm', id), attempts: MAIL_MAX_RETRIES + 1 }],
      { EMAIL: fakeEmail(true).binding, MAIL_DLQ: dlq.binding },
    );
    expect(result.explicitAcks).toEqual(ids);
    expect(result.retryMessages).toEqual([]);
    expect(dlq.messages).toHaveLength(1);
    const letter = dlq.messages[0] as DeadLetter;
    expect(letter.reason).toContain('E_DELIVERY_FAILED');
    expect(letter.attempts).toBe(MAIL_MAX_RETRIES + 1);
    expect(letter.body).toMatchObject({ kind: 'confirm', leadId: id });
  });

  it('dead-letters a message that fails validation with its reason and still sends the rest of the batch', async () => {
    const { id } = await makeLead('confirmed');
    const dlq = fakeQueue();
    const mail = fakeEmail();
    const { result, ids } = await runQueue(
      'webinar-mail',
      [
        { body: { type: 'mail', kind: 'werbung', leadId: id, requestedAt: 1 } },
        { body: 'not even an object' },
        { body: job('welcome', id) },
      ],
      { EMAIL: mail.binding, MAIL_DLQ: dlq.binding },
    );
    expect(result.explicitAcks.sort()).toEqual([...ids].sort());
    expect(dlq.messages).toHaveLength(2);
    expect((dlq.messages[0] as DeadLetter).reason).toMatch(/^Ungültiger Auftrag: kind: Unbekannte Mail-Art/);
    expect((dlq.messages[1] as DeadLetter).reason).toMatch(/^Ungültiger Auftrag/);
    expect(mail.sent).toHaveLength(1);
  });

  it('stores dead letters in D1 for ops, one entry per (kind, lead)', async () => {
    const { id } = await makeLead('pending');
    const letter: DeadLetter = {
      deadLetter: 1,
      body: job('confirm', id),
      reason: 'Versand fehlgeschlagen: E_DELIVERY_FAILED',
      attempts: 6,
      failedAt: new Date().toISOString(),
    };
    const { result, ids } = await runQueue('webinar-mail-dlq', [{ body: letter }, { body: letter }]);
    expect(result.explicitAcks.sort()).toEqual([...ids].sort());
    const entry = await getDeadLetter(env.DB, `confirm:${id}`);
    expect(entry).toMatchObject({ kind: 'confirm', reason: letter.reason, attempts: 6 });
    // A letter the platform moved on its own (consumer crash) is stored too, with a reason.
    const raw = await runQueue('webinar-mail-dlq', [{ body: job('welcome', id), attempts: 6 }]);
    expect(raw.result.explicitAcks).toEqual(raw.ids);
    expect((await getDeadLetter(env.DB, `welcome:${id}`))?.reason).toMatch(/letzten Wiederholung/);
  });

  it('sends the welcome mail with the join link and a personal .ics', async () => {
    const { id } = await makeLead('confirmed');
    const mail = fakeEmail();
    await runQueue('webinar-mail', [{ body: job('welcome', id) }], { EMAIL: mail.binding });
    const m = mail.sent[0];
    expect(m.subject).toBe('Ihre Anmeldung ist bestätigt: Webinar am Donnerstag, 18. März 2027');
    expect(m.text).toContain(DEFAULT_CONFIG.webinar.joinUrl);
    expect(m.attachments).toHaveLength(1);
    const ics = m.attachments![0];
    expect(ics).toMatchObject({ filename: 'webinar.ics', type: 'text/calendar', disposition: 'attachment' });
    expect(ics.content).toContain('METHOD:PUBLISH');
    expect(ics.content).toContain(`UID:${id.slice(0, 32)}-${START_MS}@`);
    expect(ics.content).toContain('TRIGGER:-PT15M');
    expect(m.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
  });

  it('sends nothing to an unsubscribed lead, nor a welcome to a pending one', async () => {
    const gone = await makeLead('unsubscribed');
    const pending = await makeLead('pending');
    const mail = fakeEmail();
    const { result, ids } = await runQueue(
      'webinar-mail',
      [
        { body: job('confirm', gone.id) },
        { body: job('reminder24h', gone.id, { startMs: START_MS }) },
        { body: job('welcome', pending.id) },
      ],
      { EMAIL: mail.binding },
    );
    expect(mail.sent).toHaveLength(0);
    expect(result.explicitAcks.sort()).toEqual([...ids].sort());
  });

  it('sends a reminder once per webinar date and drops one for an old date', async () => {
    const { id } = await makeLead('confirmed');
    const mail = fakeEmail();
    await runQueue('webinar-mail', [{ body: job('reminder1h', id, { startMs: START_MS }) }], {
      EMAIL: mail.binding,
    });
    await runQueue('webinar-mail', [{ body: job('reminder1h', id, { startMs: START_MS }), attempts: 2 }], {
      EMAIL: mail.binding,
    });
    await runQueue('webinar-mail', [{ body: job('reminder24h', id, { startMs: START_MS - 86_400_000 }) }], {
      EMAIL: mail.binding,
    });
    expect(mail.sent.map((m) => m.subject)).toEqual(['In einer Stunde beginnt das Webinar (19:00 Uhr MEZ)']);
  });

  it('expands a fan-out slice into mail jobs for exactly its confirmed leads, 100 per sendBatch', async () => {
    const confirmed = await Promise.all(Array.from({ length: 12 }, () => makeLead('confirmed', 'fan')));
    const pending = await makeLead('pending', 'fan');
    const queue = fakeQueue();
    const { result, ids } = await runQueue(
      'webinar-mail',
      [
        {
          body: {
            type: 'fanout',
            kind: 'reminder24h',
            startMs: START_MS,
            requestedAt: Date.now(),
            idFrom: '0',
            idTo: '~',
          },
        },
      ],
      { MAIL_QUEUE: queue.binding },
    );
    expect(result.explicitAcks).toEqual(ids);
    const jobs = queue.messages as { leadId: string; kind: string; startMs: number }[];
    for (const c of confirmed) expect(jobs.some((j) => j.leadId === c.id)).toBe(true);
    expect(jobs.some((j) => j.leadId === pending.id)).toBe(false);
    expect(jobs.every((j) => j.kind === 'reminder24h' && j.startMs === START_MS)).toBe(true);
    expect(Math.max(...queue.batches)).toBeLessThanOrEqual(100);
  });

  it('a slice holds only the leads whose id falls into it', async () => {
    const leads = await Promise.all(Array.from({ length: 8 }, () => makeLead('confirmed', 'slice')));
    const queue = fakeQueue();
    await runQueue(
      'webinar-mail',
      [
        {
          body: {
            type: 'fanout',
            kind: 'reminder1h',
            startMs: START_MS,
            requestedAt: Date.now(),
            idFrom: '0',
            idTo: '8',
          },
        },
      ],
      { MAIL_QUEUE: queue.binding },
    );
    const sent = new Set((queue.messages as { leadId: string }[]).map((j) => j.leadId));
    for (const l of leads) expect(sent.has(l.id)).toBe(l.id < '8');
  });

  it('sends once when parallel consumers get duplicates of one job', async () => {
    const { id } = await makeLead('confirmed');
    const mail = fakeEmail();
    const body = job('reminder1h', id, { startMs: START_MS });
    const runs = await Promise.all(
      Array.from({ length: 5 }, () =>
        runQueue('webinar-mail', [{ body }, { body }], { EMAIL: mail.binding }),
      ),
    );
    expect(mail.sent).toHaveLength(1);
    // Every duplicate is acknowledged (mail sent) or retried later (claimed elsewhere), never dropped unsent.
    for (const r of runs) expect(r.result.explicitAcks.length + r.result.retryMessages.length).toBe(2);
  });

  it('keeps the lead record unchanged by sending', async () => {
    const { id } = await makeLead('confirmed');
    const before = await getLead(env.DB, id);
    await runQueue('webinar-mail', [{ body: job('welcome', id) }], { EMAIL: fakeEmail().binding });
    expect(await getLead(env.DB, id)).toEqual(before);
  });
});

describe('internationalised addresses', () => {
  it('sends to the punycode domain while the lead keeps the address as typed', async () => {
    const email = `jörg.${Date.now().toString(36)}@müller-bau.de`;
    const { id } = await registerLead(
      env.DB,
      env.LEAD_KEY_SECRET,
      { email, firstName: '', privacy: true, giveaway: false, newsletter: false, website: '', referrer: '' },
      {
        now: new Date(),
        phase: 'before',
        texts: TEST_TEXTS,
        ip: '192.0.2.1',
        userAgent: 'ua',
        giveawayOpen: true,
      },
    );
    const mail = fakeEmail();
    await runQueue('webinar-mail', [{ body: job('confirm', id) }], { EMAIL: mail.binding });
    expect(mail.sent.map((m) => m.to)).toEqual([email.replace('müller-bau.de', 'xn--mller-bau-q9a.de')]);
    expect((await getLead(env.DB, id))!.email).toBe(email);
  });
});
