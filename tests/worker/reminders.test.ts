/**
 * Cron work on D1 (worker/reminders.ts), through the worker's `scheduled` handler and
 * straight against env.DB: the reminder fan-out enqueues one job per slice of the lead-id
 * space, once per webinar date, whatever the number of overlapping runs; the hourly sweep
 * re-enqueues only lost confirmations; the purge removes every lead never confirmed
 * after PURGE_UNCONFIRMED_DAYS with everything stored about it, resuming across runs.
 * Storage is shared within this file: every test makes its own leads.
 */
import { createScheduledController, env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import worker from '../../worker/index';
import { DEFAULT_CONFIG, resetConfigCache } from '../../worker/config-store';
import { randomHex } from '../../worker/crypto';
import type { QueueJob } from '../../worker/mail/jobs';
import {
  CRON_HOURLY,
  CRON_REMINDERS,
  dueReminder,
  FANOUT_LEASE_MS,
  FANOUT_SLICES,
  fanOutReminders,
  fanoutSlices,
  purgeUnconfirmed,
} from '../../worker/reminders';
import { getLead, registerLead } from '../../worker/store/lead-store';
import { fakeEmail, fakeQueue, makeLead, runQueue, sentCount, TEST_TEXTS } from './mail-helpers';

const registration = (email: string) => ({
  email,
  firstName: '',
  privacy: true,
  giveaway: false,
  newsletter: false,
  website: '',
  referrer: '',
});

const START_MS = Date.parse(DEFAULT_CONFIG.webinar.start);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const PURGE_DAYS = Number(env.PURGE_UNCONFIRMED_DAYS);
const db = env.DB;

async function runCron(cron: string, at: number, overrides: Partial<Env> = {}) {
  const controller = createScheduledController({ scheduledTime: new Date(at), cron });
  await worker.scheduled(controller, { ...env, ...overrides } as Env);
}

type Status = 'pending' | 'confirmed' | 'unsubscribed';

/** A lead row with a consent, an event and a confirmation claim, as the store leaves them. */
async function seedLead(o: { status: Status; createdMs: number; confirmedMs?: number; claim?: boolean }) {
  const id = randomHex(32);
  await db.batch([
    db
      .prepare(
        `INSERT INTO leads (id, mailbox, email, status, phase, created_at, updated_at, confirmed_at)
         VALUES (?1, ?2, ?3, ?4, 'before', ?5, ?5, ?6)`,
      )
      .bind(
        id,
        randomHex(32),
        `cron.${id.slice(0, 12)}@beispiel.de`,
        o.status,
        o.createdMs,
        o.confirmedMs ?? null,
      ),
    db
      .prepare(
        `INSERT INTO consents (lead_id, kind, status, text_version, text, given_at, given_ip, given_ua)
         VALUES (?1, 'privacy', ?2, 'v1', 'Datenschutz', ?3, '192.0.2.1', 'ua')`,
      )
      .bind(id, o.status === 'confirmed' ? 'confirmed' : 'pending', o.createdMs),
    db
      .prepare(`INSERT INTO lead_events (lead_id, type, at) VALUES (?1, 'registered', ?2)`)
      .bind(id, o.createdMs),
    ...(o.claim === false
      ? []
      : [
          db
            .prepare(
              `INSERT INTO mail_sends (lead_id, kind, ref, claimed_at, claim_until, sent_at)
               VALUES (?1, 'confirm', 'new', ?2, ?2, ?2)`,
            )
            .bind(id, o.createdMs + 1000),
        ]),
  ]);
  return id;
}

/** Rows stored about a lead, per table. */
async function rowsOf(id: string) {
  const count = (table: string, column = 'lead_id') =>
    db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE ${column} = ?1`).bind(id).first<number>('n');
  return {
    leads: await count('leads', 'id'),
    consents: await count('consents'),
    lead_events: await count('lead_events'),
    mail_sends: await count('mail_sends'),
    dead_letters: await count('dead_letters'),
  };
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
    [end + 15 * DAY, null],
  ])('at %s is %s', (now, kind) => {
    expect(dueReminder(START_MS, end, true, now)).toBe(kind);
  });
  it('sends no replay mail without a replay link', () => {
    expect(dueReminder(START_MS, end, false, end + HOUR)).toBeNull();
  });
});

describe('fanoutSlices', () => {
  it('cuts the lead-id space into contiguous slices that hold every id exactly once', () => {
    const slices = fanoutSlices();
    expect(slices).toHaveLength(FANOUT_SLICES);
    expect(slices[0].idFrom).toBe('0'.repeat(slices[0].idFrom.length));
    expect(slices.at(-1)!.idTo).toBe('~');
    for (let i = 1; i < slices.length; i++) expect(slices[i].idFrom).toBe(slices[i - 1].idTo);
    const ids = ['0'.repeat(64), 'f'.repeat(64), ...Array.from({ length: 500 }, () => randomHex(32))];
    for (const id of ids)
      expect(
        slices.filter((s) => id >= s.idFrom && id < s.idTo),
        id,
      ).toHaveLength(1);
  });

  it('also works for slice counts that are not a power of 16', () => {
    const slices = fanoutSlices(100);
    expect(slices).toHaveLength(100);
    for (const id of ['0'.repeat(64), 'f'.repeat(64), randomHex(32)])
      expect(slices.filter((s) => id >= s.idFrom && id < s.idTo)).toHaveLength(1);
  });
});

describe('scheduled reminder fan-out', () => {
  it('enqueues one fanout job per slice, once per webinar date, however often the cron runs', async () => {
    const at = START_MS - 23 * HOUR;
    const queue = fakeQueue();
    await runCron(CRON_REMINDERS, at, { MAIL_QUEUE: queue.binding });
    const jobs = queue.messages as QueueJob[];
    expect(jobs).toHaveLength(FANOUT_SLICES);
    expect(new Set(jobs.map((j) => j.type === 'fanout' && `${j.kind}:${j.startMs}`))).toEqual(
      new Set([`reminder24h:${START_MS}`]),
    );
    expect(jobs.map((j) => (j.type === 'fanout' ? [j.idFrom, j.idTo] : null))).toEqual(
      fanoutSlices().map((s) => [s.idFrom, s.idTo]),
    );
    // 100 messages per sendBatch call: a fixed number of calls, none per lead.
    expect(queue.batches).toHaveLength(Math.ceil(FANOUT_SLICES / 100));
    expect(Math.max(...queue.batches)).toBe(100);

    // The next cron runs (every 5 minutes) find the fan-out done and enqueue nothing.
    const later = fakeQueue();
    await runCron(CRON_REMINDERS, at + 5 * 60_000, { MAIL_QUEUE: later.binding });
    await runCron(CRON_REMINDERS, at + 30 * 60_000, { MAIL_QUEUE: later.binding });
    expect(later.messages).toEqual([]);
    expect(
      await db
        .prepare('SELECT status, enqueued FROM fanouts WHERE kind = ?1 AND start_ms = ?2')
        .bind('reminder24h', START_MS)
        .first(),
    ).toEqual({ status: 'done', enqueued: FANOUT_SLICES });
  });

  it('reminds confirmed leads only, once, even when fan-outs and mail jobs arrive twice', async () => {
    const confirmed = await makeLead('confirmed', 'rem');
    const pending = await makeLead('pending', 'rem');
    const gone = await makeLead('unsubscribed', 'rem');
    const mine = [confirmed, pending, gone];
    // The 24-hour fan-out of the first test is done; a rescheduled start gets its own.
    const config = structuredClone(DEFAULT_CONFIG);
    config.webinar.start = new Date(START_MS + 7 * DAY).toISOString().replace('.000Z', 'Z');
    await env.CONTENT.put('config:v1', JSON.stringify({ version: 1, config }));
    await env.CONTENT.put('config:current', '1');
    resetConfigCache();
    try {
      const queue = fakeQueue();
      await runCron(CRON_REMINDERS, START_MS + 7 * DAY - 23 * HOUR, { MAIL_QUEUE: queue.binding });
      // Only the slices holding these leads are consumed here (the rest hold other tests' leads).
      const slices = (queue.messages as QueueJob[]).filter(
        (j) => j.type === 'fanout' && mine.some((l) => l.id >= j.idFrom && l.id < j.idTo),
      );
      expect(slices.length).toBeGreaterThan(0);

      const email = fakeEmail();
      let pendingJobs: unknown[] = [...slices, ...slices];
      while (pendingJobs.length) {
        const next = fakeQueue();
        // Every mail job is delivered twice, in separate batches.
        for (const body of [...pendingJobs, ...pendingJobs])
          await runQueue('webinar-mail', [{ body }], { EMAIL: email.binding, MAIL_QUEUE: next.binding });
        pendingJobs = next.messages;
      }
      const to = email.sent.filter((m) => mine.some((l) => l.email === m.to)).map((m) => m.to);
      expect(to).toEqual([confirmed.email]);
      expect(await sentCount(confirmed.id, 'reminder24h')).toBe(1);
      expect(email.sent.find((m) => m.to === confirmed.email)!.headers['List-Unsubscribe-Post']).toBe(
        'List-Unsubscribe=One-Click',
      );
    } finally {
      await env.CONTENT.delete('config:current');
      resetConfigCache();
    }
  });

  it('lets exactly one of two overlapping cron runs fan out', async () => {
    const at = START_MS - 30 * 60_000;
    const a = fakeQueue();
    const b = fakeQueue();
    const [sa, sb] = await Promise.all([
      fanOutReminders({ ...env, MAIL_QUEUE: a.binding }, new Date(at)),
      fanOutReminders({ ...env, MAIL_QUEUE: b.binding }, new Date(at)),
    ]);
    expect([sa.messages, sb.messages].sort()).toEqual([0, FANOUT_SLICES]);
    expect(a.messages.length + b.messages.length).toBe(FANOUT_SLICES);
  });

  it('skips while another run holds the lease and takes over once it has expired', async () => {
    const end = START_MS + DEFAULT_CONFIG.webinar.durationMinutes * 60_000;
    const at = end + 2 * HOUR;
    const withReplay = structuredClone(DEFAULT_CONFIG);
    // The replay needs a link in the live config: publish one straight into KV.
    withReplay.webinar.replayUrl = 'https://video.example/aufzeichnung';
    await env.CONTENT.put('config:v1', JSON.stringify({ version: 1, config: withReplay }));
    await env.CONTENT.put('config:current', '1');
    resetConfigCache();
    try {
      await db
        .prepare(
          `INSERT INTO fanouts (kind, start_ms, status, lease_until, updated_at) VALUES ('replay', ?1, 'running', ?2, ?3)`,
        )
        .bind(START_MS, at + 60_000, at - 60_000)
        .run();
      const busy = fakeQueue();
      expect(await fanOutReminders({ ...env, MAIL_QUEUE: busy.binding }, new Date(at))).toMatchObject({
        kind: 'replay',
        skipped: 'running',
      });
      expect(busy.messages).toEqual([]);

      const takeover = fakeQueue();
      const stats = await fanOutReminders(
        { ...env, MAIL_QUEUE: takeover.binding },
        new Date(at + FANOUT_LEASE_MS),
      );
      expect(stats).toMatchObject({ kind: 'replay', messages: FANOUT_SLICES });
      expect(stats.skipped).toBeUndefined();
      expect(takeover.messages).toHaveLength(FANOUT_SLICES);
    } finally {
      await env.CONTENT.delete('config:current');
      resetConfigCache();
    }
  });

  it('does nothing when no reminder is due', async () => {
    const queue = fakeQueue();
    await runCron(CRON_REMINDERS, START_MS - 48 * HOUR, { MAIL_QUEUE: queue.binding });
    expect(queue.messages).toEqual([]);
  });
});

describe('hourly maintenance', () => {
  it('re-enqueues the confirmation only for pending leads that never got one and could still confirm', async () => {
    const now = Date.now();
    const lost = await seedLead({ status: 'pending', createdMs: now - 20 * 60_000, claim: false });
    const sent = await seedLead({ status: 'pending', createdMs: now - 20 * 60_000 });
    const dead = await seedLead({ status: 'pending', createdMs: now - 20 * 60_000, claim: false });
    await db
      .prepare(
        `INSERT INTO dead_letters (key, kind, lead_id, reason, attempts, failed_at, body)
         VALUES (?1, 'confirm', ?2, 'Versand fehlgeschlagen', 6, ?3, '{}')`,
      )
      .bind(`confirm:${dead}`, dead, now - 10 * 60_000)
      .run();
    const fresh = await seedLead({ status: 'pending', createdMs: now - 2 * 60_000, claim: false });
    const expired = await seedLead({ status: 'pending', createdMs: now - 8 * DAY, claim: false });
    const confirmed = await seedLead({
      status: 'confirmed',
      createdMs: now - 20 * 60_000,
      confirmedMs: now - 19 * 60_000,
      claim: false,
    });

    const queue = fakeQueue();
    await runCron(CRON_HOURLY, now, { MAIL_QUEUE: queue.binding });
    const mine = (queue.messages as QueueJob[]).filter(
      (j) => j.type === 'mail' && [lost, sent, dead, fresh, expired, confirmed].includes(j.leadId),
    );
    expect(mine).toEqual([
      { type: 'mail', kind: 'confirm', leadId: lost, requestedAt: now - 20 * 60_000, ref: 'new' },
    ]);
  });

  it(`purges leads never confirmed after ${PURGE_DAYS} days with everything stored about them`, async () => {
    const now = Date.now();
    const old = await seedLead({ status: 'pending', createdMs: now - (PURGE_DAYS + 1) * DAY });
    await db
      .prepare(
        `INSERT INTO dead_letters (key, kind, lead_id, reason, attempts, failed_at, body)
         VALUES (?1, 'confirm', ?2, 'x', 6, ?3, '{}')`,
      )
      .bind(`confirm:${old}`, old, now - (PURGE_DAYS + 1) * DAY)
      .run();
    const recent = await seedLead({ status: 'pending', createdMs: now - (PURGE_DAYS - 1) * DAY });
    const oldConfirmed = await seedLead({
      status: 'confirmed',
      createdMs: now - (PURGE_DAYS + 10) * DAY,
      confirmedMs: now - (PURGE_DAYS + 9) * DAY,
    });
    // Confirmed once, unsubscribed since: its consent history is proof and stays.
    const oldUnsubscribed = await seedLead({
      status: 'unsubscribed',
      createdMs: now - (PURGE_DAYS + 10) * DAY,
      confirmedMs: now - (PURGE_DAYS + 9) * DAY,
    });

    await runCron(CRON_HOURLY, now, { MAIL_QUEUE: fakeQueue().binding });
    expect(await rowsOf(old)).toEqual({
      leads: 0,
      consents: 0,
      lead_events: 0,
      mail_sends: 0,
      dead_letters: 0,
    });
    for (const kept of [recent, oldConfirmed, oldUnsubscribed])
      expect(await rowsOf(kept)).toMatchObject({ leads: 1, consents: 1, lead_events: 1, mail_sends: 1 });
  });

  it('keeps a lead whose person registered again after the retention period, and mails them a fresh link', async () => {
    const now = Date.now();
    const { email, id } = await (async () => {
      const e = `spaet.${randomHex(4)}@beispiel.de`;
      const first = await registerLead(db, env.LEAD_KEY_SECRET, registration(e), {
        now: new Date(now - (PURGE_DAYS + 1) * DAY),
        phase: 'before',
        texts: TEST_TEXTS,
        ip: '192.0.2.1',
        userAgent: 'ua',
        giveawayOpen: true,
      });
      return { email: e, id: first.id };
    })();
    const again = await registerLead(db, env.LEAD_KEY_SECRET, registration(email), {
      now: new Date(now),
      phase: 'before',
      texts: TEST_TEXTS,
      ip: '192.0.2.9',
      userAgent: 'ua',
      giveawayOpen: true,
    });
    // The old, unconfirmable consent is closed; a fresh one needs its own confirmation.
    expect(again).toMatchObject({ outcome: 'consents_added', mail: { kind: 'confirm' } });
    await runCron(CRON_HOURLY, now, { MAIL_QUEUE: fakeQueue().binding });
    const lead = await getLead(db, id);
    expect(lead).not.toBeNull();
    expect(lead!.consents.map((c) => [c.kind, c.status, c.note])).toEqual([
      ['privacy', 'withdrawn', 'expired_unconfirmed'],
      ['privacy', 'pending', null],
    ]);
  });

  it('deletes in chunks until none is due, and the next run finishes what a spent budget left', async () => {
    const cutoff = Date.now() - PURGE_DAYS * DAY;
    const due = await Promise.all(
      Array.from({ length: 11 }, (_, i) => seedLead({ status: 'pending', createdMs: cutoff - DAY - i })),
    );
    const left = () =>
      db
        .prepare('SELECT COUNT(*) AS n FROM leads WHERE id IN (SELECT value FROM json_each(?1))')
        .bind(JSON.stringify(due))
        .first<number>('n');

    const first = await purgeUnconfirmed(db, cutoff, { chunk: 3, maxChunks: 2 });
    expect(first).toMatchObject({ purged: 6, chunks: 2, more: true });
    expect(await left()).toBe(5);
    const second = await purgeUnconfirmed(db, cutoff, { chunk: 3 });
    expect(second).toMatchObject({ purged: 5, more: false });
    expect(await left()).toBe(0);
    const orphans = await db
      .prepare(
        `SELECT (SELECT COUNT(*) FROM consents WHERE lead_id NOT IN (SELECT id FROM leads))
              + (SELECT COUNT(*) FROM lead_events WHERE lead_id NOT IN (SELECT id FROM leads))
              + (SELECT COUNT(*) FROM mail_sends WHERE lead_id NOT IN (SELECT id FROM leads)) AS n`,
      )
      .first<number>('n');
    expect(orphans).toBe(0);
  });

  it('drops audit entries, dead letters, spent challenge solutions and abuse counts past their retention', async () => {
    const now = Date.now();
    await db.batch([
      ...[now - 401 * DAY, now - DAY].map((at, i) =>
        db
          .prepare(`INSERT INTO audit_log (at, role, actor, action) VALUES (?1, 'ops', 'token:ops', ?2)`)
          .bind(at, `cron.test.${i}`),
      ),
      db
        .prepare(
          `INSERT INTO dead_letters (key, kind, lead_id, reason, attempts, failed_at, body)
           VALUES ('invalid:cron-old', 'invalid', NULL, 'x', 1, ?1, '{}'), ('invalid:cron-new', 'invalid', NULL, 'x', 1, ?2, '{}')`,
        )
        .bind(now - 31 * DAY, now - DAY),
      db
        .prepare('INSERT INTO challenge_spent (signature, expires_at) VALUES (?1, ?2), (?3, ?4)')
        .bind('cron-expired', now - 60_000, 'cron-valid', now + HOUR),
      db
        .prepare(
          `INSERT INTO abuse_counts (minute, reason, n) VALUES (?1, 'cron:test', 1), (?2, 'cron:test', 2)`,
        )
        .bind(now - 31 * DAY - (now % 60_000), now - DAY - (now % 60_000)),
    ]);
    await runCron(CRON_HOURLY, now, { MAIL_QUEUE: fakeQueue().binding });
    const rows = async (sql: string) => (await db.prepare(sql).all()).results;
    expect(await rows(`SELECT action FROM audit_log WHERE action LIKE 'cron.test.%'`)).toEqual([
      { action: 'cron.test.1' },
    ]);
    expect(await rows(`SELECT signature FROM challenge_spent WHERE signature LIKE 'cron-%'`)).toEqual([
      { signature: 'cron-valid' },
    ]);
    expect(await rows(`SELECT n FROM abuse_counts WHERE reason = 'cron:test'`)).toEqual([{ n: 2 }]);
    expect(await rows(`SELECT key FROM dead_letters WHERE key LIKE 'invalid:cron-%'`)).toEqual([
      { key: 'invalid:cron-new' },
    ]);
  });
});
