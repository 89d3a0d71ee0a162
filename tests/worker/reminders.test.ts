import { createScheduledController, env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import worker from '../../worker/index';
import { DEFAULT_CONFIG } from '../../worker/config-store';
import { confirmLead, getLead, leadId, markSent, registerLead } from '../../worker/lead-store';
import type { QueueJob } from '../../worker/mail/jobs';
import {
  CRON_HOURLY,
  CRON_REMINDERS,
  dueReminder,
  FANOUT_PREFIX,
  fanOutReminders,
} from '../../worker/reminders';
import { uniqueEmail } from './helpers';
import { fakeEmail, fakeQueue, makeLead, runQueue } from './mail-helpers';

const START_MS = Date.parse(DEFAULT_CONFIG.webinar.start);
const HOUR = 3_600_000;

async function runCron(cron: string, at: number, overrides: Partial<Env>) {
  const controller = createScheduledController({ scheduledTime: new Date(at), cron });
  await worker.scheduled(controller, { ...env, ...overrides } as Env);
}

/** Runs the consumer over queued jobs until no new jobs appear; returns the mails sent. */
async function drain(jobs: unknown[]) {
  const email = fakeEmail();
  let pending = jobs;
  while (pending.length) {
    const next = fakeQueue();
    for (let i = 0; i < pending.length; i += 50)
      await runQueue(
        'webinar-mail',
        pending.slice(i, i + 50).map((body) => ({ body })),
        { EMAIL: email.binding, MAIL_QUEUE: next.binding },
      );
    pending = next.messages;
  }
  return email.sent;
}

async function leadAt(createdMs: number, tag: string) {
  const email = uniqueEmail(tag);
  await registerLead(
    env.LEADS,
    env.LEAD_KEY_SECRET,
    { email, firstName: '', privacy: true, giveaway: false, newsletter: false, website: '', referrer: '' },
    {
      now: new Date(createdMs),
      phase: 'before',
      consentVersion: 'test-1',
      ip: '192.0.2.1',
      userAgent: 'ua',
      giveawayOpen: false,
    },
  );
  return { email, id: await leadId(email, env.LEAD_KEY_SECRET) };
}

describe('dueReminder', () => {
  const end = START_MS + 150 * 60_000;
  it.each([
    [START_MS - 25 * HOUR, null],
    [START_MS - 24 * HOUR, 'reminder24h'],
    [START_MS - HOUR - 1, 'reminder24h'],
    [START_MS - HOUR, 'reminder1h'],
    [START_MS - 1, 'reminder1h'],
    [START_MS, null],
    [end + 30 * 60_000, 'replay'],
    [end + 15 * 24 * HOUR, null],
  ])('at %s is %s', (now, kind) => {
    expect(dueReminder(START_MS, end, true, now)).toBe(kind);
  });
  it('sends no replay mail without a replay link', () => {
    expect(dueReminder(START_MS, end, false, end + HOUR)).toBeNull();
  });
});

describe('scheduled reminders', () => {
  it('reminds confirmed leads only, once, even when the cron run repeats and jobs are redelivered', async () => {
    const confirmed = await makeLead('confirmed', 'rem');
    const pending = await makeLead('pending', 'rem');
    const gone = await makeLead('unsubscribed', 'rem');
    const at = START_MS - 23 * HOUR;

    const queue = fakeQueue();
    await runCron(CRON_REMINDERS, at, { MAIL_QUEUE: queue.binding });
    const fanouts = queue.messages as QueueJob[];
    expect(fanouts.length).toBeGreaterThan(0);
    expect(fanouts.every((j) => j.type === 'fanout' && j.kind === 'reminder24h')).toBe(true);
    const ids = fanouts.flatMap((j) => (j.type === 'fanout' ? j.leadIds : []));
    expect(ids).toContain(confirmed.id);
    expect(ids).not.toContain(pending.id);
    expect(ids).not.toContain(gone.id);

    // The next cron run (5 minutes later) finds the fan-out done and enqueues nothing.
    const second = fakeQueue();
    await runCron(CRON_REMINDERS, at + 5 * 60_000, { MAIL_QUEUE: second.binding });
    expect(second.messages).toEqual([]);

    // Even a second full fan-out (a crashed run resumed) plus every job twice sends one mail.
    await env.LEADS.delete(`${FANOUT_PREFIX}reminder24h:${START_MS}`);
    const repeat = fakeQueue();
    await runCron(CRON_REMINDERS, at + 10 * 60_000, { MAIL_QUEUE: repeat.binding });
    const sent = await drain([...fanouts, ...repeat.messages, ...fanouts]);
    const mine = sent.filter((m) => [confirmed.email, pending.email, gone.email].includes(m.to));
    expect(mine.map((m) => [m.to, m.subject])).toEqual([
      [confirmed.email, 'Erinnerung: Morgen um 19:00 Uhr MEZ beginnt das Webinar'],
    ]);
    expect(mine[0].headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
  });

  it('skips while another run holds the lease and resumes from its cursor after it expired', async () => {
    const at = START_MS - 30 * 60_000;
    const key = `${FANOUT_PREFIX}reminder1h:${START_MS}`;
    await env.LEADS.put(
      key,
      JSON.stringify({ status: 'running', leaseUntil: at + 60_000, enqueued: 0, at: '' }),
    );
    const busy = fakeQueue();
    expect(await fanOutReminders({ ...env, MAIL_QUEUE: busy.binding }, new Date(at))).toMatchObject({
      skipped: 'running',
    });
    expect(busy.messages).toEqual([]);

    await env.LEADS.put(key, JSON.stringify({ status: 'running', leaseUntil: at - 1, enqueued: 0, at: '' }));
    const takeover = fakeQueue();
    const stats = await fanOutReminders({ ...env, MAIL_QUEUE: takeover.binding }, new Date(at));
    expect(stats.skipped).toBeUndefined();
    expect(stats.listCalls).toBeGreaterThanOrEqual(1);
    expect(stats.sendBatchCalls).toBe(takeover.batches.length);
    expect(JSON.parse((await env.LEADS.get(key))!)).toMatchObject({ status: 'done' });
  });

  it('does nothing when no reminder is due', async () => {
    const queue = fakeQueue();
    await runCron(CRON_REMINDERS, START_MS - 48 * HOUR, { MAIL_QUEUE: queue.binding });
    expect(queue.messages).toEqual([]);
  });
});

describe('hourly maintenance', () => {
  it('re-enqueues the confirmation only for pending leads that never got one', async () => {
    const now = Date.now();
    const lost = await leadAt(now - 20 * 60_000, 'lost');
    const sent = await leadAt(now - 20 * 60_000, 'sent');
    await markSent(env.LEADS, 'confirm', sent.id, { at: new Date(now - 19 * 60_000).toISOString() });
    const dead = await leadAt(now - 20 * 60_000, 'dead');
    await env.LEADS.put(`dlq:confirm:${dead.id}`, '{}');
    const fresh = await leadAt(now - 2 * 60_000, 'fresh');

    const queue = fakeQueue();
    await runCron(CRON_HOURLY, now, { MAIL_QUEUE: queue.binding });
    const ids = (queue.messages as QueueJob[]).flatMap((j) =>
      j.type === 'mail' && j.kind === 'confirm' ? [j.leadId] : [],
    );
    expect(ids).toContain(lost.id);
    expect(ids).not.toContain(sent.id);
    expect(ids).not.toContain(dead.id);
    expect(ids).not.toContain(fresh.id);
  });

  it('purges unconfirmed leads after 30 days and keeps confirmed and recent ones', async () => {
    const now = Date.now();
    const old = await leadAt(now - 31 * 86_400_000, 'old');
    await markSent(env.LEADS, 'confirm', old.id, { at: new Date(now - 31 * 86_400_000).toISOString() });
    const recent = await leadAt(now - 29 * 86_400_000, 'recent');
    const oldConfirmed = await leadAt(now - 40 * 86_400_000, 'oldconfirmed');
    await confirmLead(env.LEADS, oldConfirmed.id, {
      at: new Date().toISOString(),
      ip: '192.0.2.3',
      userAgent: 'ua',
    });

    await runCron(CRON_HOURLY, now, { MAIL_QUEUE: fakeQueue().binding });
    expect(await getLead(env.LEADS, old.id)).toBeNull();
    expect(await env.LEADS.get(`sent:confirm:${old.id}`)).toBeNull();
    expect(await getLead(env.LEADS, recent.id)).not.toBeNull();
    expect((await getLead(env.LEADS, oldConfirmed.id))!.status).toBe('confirmed');
  });
});
