/** Exact confirmation-mail budgets (issue 12): per mailbox, per domain, in total; reminders first. */
import { env } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_CONFIG } from '../../worker/config-store';
import { leadId } from '../../worker/store/lead-keys';
import { confirmLead, registerLead } from '../../worker/store/lead-store';
import { fakeEmail, fakeQueue, runQueue, TEST_TEXTS } from './mail-helpers';

afterEach(() => vi.useRealTimers());

const START_MS = Date.parse(DEFAULT_CONFIG.webinar.start);
let n = 0;

async function lead(email: string, confirmed = false) {
  const now = Date.now() - 1000;
  await registerLead(
    env.DB,
    env.LEAD_KEY_SECRET,
    { email, firstName: '', privacy: true, giveaway: false, newsletter: false, website: '', referrer: '' },
    {
      now: new Date(now),
      phase: 'before',
      texts: TEST_TEXTS,
      ip: '192.0.2.1',
      userAgent: 'ua',
      giveawayOpen: true,
    },
  );
  const id = await leadId(email, env.LEAD_KEY_SECRET);
  if (confirmed) await confirmLead(env.DB, id, { atMs: now + 500, ip: 'x', userAgent: 'y' }, now);
  return id;
}

const confirmJob = (leadId: string) => ({
  type: 'mail',
  kind: 'confirm',
  leadId,
  requestedAt: Date.now(),
  ref: `t${++n}`,
});

/**
 * A fresh hour for each test (the global window counts every confirmation of this file),
 * some days before the configured start, so reminders are still due whatever the date.
 */
function freshHour(daysBeforeStart: number) {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(START_MS - daysBeforeStart * 86_400_000 - 2 * 3_600_000);
}

describe('confirmation mail budgets', () => {
  it('sends at most three confirmations per canonical mailbox in 24 hours, whatever the spelling', async () => {
    freshHour(30);
    const stamp = Date.now().toString(36);
    const a = await lead(`bomb.${stamp}@gmail.com`);
    const b = await lead(`bomb${stamp}+x@googlemail.com`);
    const mail = fakeEmail();
    const queue = fakeQueue();
    for (const id of [a, b, a, b, a])
      await runQueue('webinar-mail', [{ body: confirmJob(id) }], {
        EMAIL: mail.binding,
        MAIL_QUEUE: queue.binding,
      });
    expect(mail.sent).toHaveLength(3);
    // The rest is dropped on purpose, not paced: nothing waits to go out later.
    expect(queue.messages).toHaveLength(0);
  });

  it('paces confirmations over the per-domain budget instead of dropping them; big providers are exempt', async () => {
    freshHour(60);
    const stamp = Date.now().toString(36);
    const firm = await Promise.all([1, 2, 3, 4].map((i) => lead(`p${i}.${stamp}@kleine-firma.de`)));
    const big = await Promise.all([1, 2, 3, 4].map((i) => lead(`p${i}.${stamp}@web.de`)));
    const mail = fakeEmail();
    const queue = fakeQueue();
    const { result, ids } = await runQueue(
      'webinar-mail',
      [...firm, ...big].map((id) => ({ body: confirmJob(id) })),
      { EMAIL: mail.binding, MAIL_QUEUE: queue.binding, MAIL_PER_DOMAIN_HOURLY: '2' },
    );
    expect(result.explicitAcks.sort()).toEqual([...ids].sort());
    expect(mail.sent.filter((m) => m.to.endsWith('@kleine-firma.de'))).toHaveLength(2);
    expect(mail.sent.filter((m) => m.to.endsWith('@web.de'))).toHaveLength(4);
    const paced = queue.messages as { kind: string; leadId: string }[];
    expect(paced).toHaveLength(2);
    expect(paced.every((j) => j.kind === 'confirm' && firm.includes(j.leadId))).toBe(true);
  });

  it('holds confirmations at the global hourly budget while reminders still go out', async () => {
    freshHour(3);
    const stamp = Date.now().toString(36);
    const pending = await Promise.all([1, 2, 3].map((i) => lead(`g${i}.${stamp}@beispiel.de`)));
    const confirmed = await lead(`r.${stamp}@beispiel.de`, true);
    const mail = fakeEmail();
    const queue = fakeQueue();
    await runQueue(
      'webinar-mail',
      [
        ...pending.map((id) => ({ body: confirmJob(id) })),
        {
          body: {
            type: 'mail',
            kind: 'reminder1h',
            leadId: confirmed,
            requestedAt: Date.now(),
            startMs: START_MS,
          },
        },
      ],
      { EMAIL: mail.binding, MAIL_QUEUE: queue.binding, MAIL_GLOBAL_HOURLY: '1' },
    );
    const subjects = mail.sent.map((m) => m.subject);
    expect(subjects.filter((s) => /bestätigen/i.test(s))).toHaveLength(1);
    expect(mail.sent.some((m) => m.to.startsWith('r.'))).toBe(true);
    expect(queue.messages).toHaveLength(2);
  });
});
