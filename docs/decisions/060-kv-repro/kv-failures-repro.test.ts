/**
 * Failures 1–8 of the KV person store (issue 10), reproduced against the KV code with the
 * network doubles (tests/worker/doubles). Each test asserts the CORRECT behaviour, so each
 * fails on the KV store; the failure output is quoted in the decision record of issue 10.
 * This file stays on its branch: the KV lead store it exercises is replaced by D1.
 *
 * Store and consumer functions are called directly with a location's binding: the bindings
 * of SELF cannot be swapped. A second module instance of the lead store stands for a
 * second isolate (its in-isolate queue of concurrent registrations is per isolate).
 */
import { env } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import type { Registration } from '../../src/lib/registration';
import * as isolateA from '../../worker/lead-store';
import {
  confirmLead,
  eraseLead,
  LEAD_PREFIX,
  leadId,
  metadataOf,
  purgeUnconfirmed,
  registerLead,
  unsubscribeLead,
  type LeadRecord,
  type RegistrationContext,
} from '../../worker/lead-store';
import { drawWinners } from '../../worker/giveaway-draw';
import { consumeMailBatch, type MailEnv } from '../../worker/mail/consumer';
import { requestConfirmation, requestMail } from '../../worker/mail/requests';
import { CRON_HOURLY, runScheduled, sweepConfirmations } from '../../worker/reminders';
import { KvNetwork, manualClock, type KvOperation } from './doubles/kv-network';
import { QueueNetwork } from './doubles/queue-network';
import { logMark, logsSince } from './log-privacy-setup';
import { fakeEmail } from './mail-helpers';
import { uniqueEmail } from './helpers';

const SECRET = env.LEAD_KEY_SECRET;
const MINUTE = 60_000;
const DAY = 86_400_000;

function input(email: string, o: Partial<Registration> = {}): Registration {
  return {
    email,
    firstName: '',
    privacy: true,
    giveaway: false,
    newsletter: false,
    website: '',
    referrer: '',
    ...o,
  };
}

function ctx(nowMs: number): RegistrationContext {
  return {
    now: new Date(nowMs),
    phase: 'before',
    consentVersion: 'test-1',
    ip: '192.0.2.10',
    userAgent: 'repro-agent',
    giveawayOpen: true,
  };
}

const proof = (atMs: number) => ({ at: new Date(atMs).toISOString(), ip: '192.0.2.20', userAgent: 'phone' });

/** The lead as the origin holds it now (what every location sees once its cache expires). */
function origin(net: KvNetwork, id: string): LeadRecord | null {
  const s = net.stored(LEAD_PREFIX + id);
  return s ? (JSON.parse(s.value) as LeadRecord) : null;
}

function setup(
  o: {
    listLagMs?: number;
    listPageMax?: number;
    hook?: (op: KvOperation) => Promise<void>;
    startMs?: number;
  } = {},
) {
  const clock = manualClock(o.startMs ?? Date.now());
  const net = new KvNetwork({ clock: clock.now, ...o, beforeOperation: o.hook });
  const queue = new QueueNetwork({ clock: clock.now, duplicates: 0, concurrency: 4 });
  const mail = fakeEmail();
  const mailEnv = (location: string): MailEnv => ({
    EMAIL: mail.binding,
    MAIL_FROM: 'webinar@example.com',
    LEADS: net.location(location),
    CONTENT: env.CONTENT,
    MAIL_QUEUE: queue.producer,
    MAIL_DLQ: new QueueNetwork({ clock: clock.now }).producer,
    MAIL_TOKEN_SECRET: env.MAIL_TOKEN_SECRET,
  });
  const consume = (batch: MessageBatch<unknown>, e: MailEnv) =>
    consumeMailBatch(batch, e, new Date(clock.now()));
  const drain = () => queue.drain(consume, ({ location }) => mailEnv(location));
  const sentTo = (address: string, subject?: RegExp) =>
    mail.sent.filter((m) => m.to === address && (!subject || subject.test(m.subject))).length;
  return { clock, net, queue, mail, mailEnv, drain, sentTo };
}

/** Waits (macrotask by macrotask) until `cond` holds: lets the other request run meanwhile. */
async function until(cond: () => boolean) {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 0));
}

const settle = async (ps: Promise<unknown>[]) =>
  (await Promise.allSettled(ps)).map((r) =>
    r.status === 'fulfilled' ? 'ok' : `rejected: ${String(r.reason)}`,
  );

describe('KV person store on the real network (failures 1–8 of issue 10)', () => {
  it('1: re-registering within a minute of confirming on another device keeps the confirmation', async () => {
    const { clock, net } = setup();
    const email = uniqueEmail('f1');
    const t0 = clock.now();
    const laptop = net.location('laptop-fra');
    const { id } = await registerLead(laptop, SECRET, input(email), ctx(t0));
    clock.set(t0 + 20_000);
    await confirmLead(net.location('phone-ams'), id, proof(clock.now()));
    clock.set(t0 + 40_000);
    await registerLead(laptop, SECRET, input(email, { newsletter: true }), ctx(clock.now()));
    const lead = origin(net, id);
    expect
      .soft(
        {
          status: lead?.status,
          confirmedAt: !!lead?.confirmedAt,
          confirmationProof: !!lead?.proof.confirmation,
          newsletter: !!lead?.consents.newsletter,
        },
        'the lead after a repeat registration on the laptop',
      )
      .toEqual({ status: 'confirmed', confirmedAt: true, confirmationProof: true, newsletter: true });
    clock.set(t0 + 31 * DAY);
    await purgeUnconfirmed(net.location('cron'), clock.now() - 30 * DAY, 200);
    expect.soft(origin(net, id) !== null, 'the confirmed lead still exists 31 days later').toBe(true);
  });

  it('2: neither an unsubscribe nor an erasure is undone by a stale merge', async () => {
    const { clock, net } = setup();
    const t0 = clock.now();
    const laptop = net.location('laptop-fra');
    const phone = net.location('phone-ams');

    const unsubscriber = uniqueEmail('f2u');
    const u = await registerLead(laptop, SECRET, input(unsubscriber), ctx(t0));
    clock.set(t0 + 5_000);
    await confirmLead(laptop, u.id, proof(clock.now()));
    clock.set(t0 + 20_000);
    await unsubscribeLead(phone, u.id, new Date(clock.now()).toISOString());
    clock.set(t0 + 40_000);
    await registerLead(laptop, SECRET, input(unsubscriber, { newsletter: true }), ctx(clock.now()));
    expect.soft(origin(net, u.id)?.status, 'status after a repeat registration').toBe('unsubscribed');

    clock.set(t0 + 60 * MINUTE);
    const t1 = clock.now();
    const erased = uniqueEmail('f2e');
    const e = await registerLead(laptop, SECRET, input(erased), ctx(t1));
    clock.set(t1 + 20_000);
    await eraseLead(phone, e.id, { at: new Date(clock.now()), by: 'visitor' });
    clock.set(t1 + 40_000);
    const again = await registerLead(laptop, SECRET, input(erased, { newsletter: true }), ctx(clock.now()));
    expect.soft(again.outcome, 'outcome of registering an erased address').toBe('suppressed');
    expect
      .soft(origin(net, e.id) !== null, 'a lead record with the address is stored again after its erasure')
      .toBe(false);
  });

  it('3: two near-simultaneous submits of one address keep both consents and both succeed', async () => {
    // (a) laptop and phone, two isolates: both read "no lead", the phone writes first, the
    // laptop's write lands 1.2 s later and replaces it.
    {
      const email = uniqueEmail('f3a');
      const id = await leadId(email, SECRET);
      let phoneWrote = false;
      const { clock, net } = setup({
        hook: async (op) => {
          if (op.kind === 'put' && op.location === 'phone-ams') {
            await until(() => net.operations.some((o) => o.kind === 'get' && o.location === 'laptop-fra'));
            phoneWrote = true;
          }
          if (op.kind === 'put' && op.location === 'laptop-fra') {
            await until(() => phoneWrote && net.stored(LEAD_PREFIX + id) !== null);
            clock.advance(1200);
          }
        },
      });
      vi.resetModules();
      const isolateB: typeof isolateA = await import('../../worker/lead-store');
      const t0 = clock.now();
      await Promise.allSettled([
        isolateA.registerLead(net.location('laptop-fra'), SECRET, input(email, { giveaway: true }), ctx(t0)),
        isolateB.registerLead(net.location('phone-ams'), SECRET, input(email, { newsletter: true }), ctx(t0)),
      ]);
      const lead = origin(net, id);
      expect
        .soft(
          { giveaway: !!lead?.consents.giveaway, newsletter: !!lead?.consents.newsletter },
          'consents stored',
        )
        .toEqual({ giveaway: true, newsletter: true });
    }
    // (b) a double tap, two isolates of one location: the second write within the same second.
    {
      const { clock, net } = setup();
      vi.resetModules();
      const isolateB: typeof isolateA = await import('../../worker/lead-store');
      const email = uniqueEmail('f3b');
      const t0 = clock.now();
      const outcomes = await settle([
        isolateA.registerLead(net.location('phone-fra'), SECRET, input(email), ctx(t0)),
        isolateB.registerLead(net.location('phone-fra'), SECRET, input(email), ctx(t0)),
      ]);
      expect
        .soft(outcomes, 'both submits of a double tap (a rejection is a 503 for the visitor)')
        .toEqual(['ok', 'ok']);
    }
  });

  it('4: a double click on "bestätigen" confirms once, answers both clicks, and sends one welcome', async () => {
    // (a) two clicks in the same second: the second write gets a 429, the route a 503.
    {
      const { clock, net } = setup();
      const email = uniqueEmail('f4a');
      const fra = net.location('phone-fra');
      const { id } = await registerLead(fra, SECRET, input(email), ctx(clock.now()));
      clock.advance(30_000);
      const clicks = await settle([
        confirmLead(fra, id, proof(clock.now())),
        confirmLead(net.location('phone-fra'), id, proof(clock.now())),
      ]);
      expect.soft(clicks, 'both clicks get an answer (a rejection is the 503 page)').toEqual(['ok', 'ok']);
      expect.soft(origin(net, id)?.status).toBe('confirmed');
    }
    // (b) the link opened again on the laptop, whose location still caches "pending".
    {
      const { clock, net, queue, drain, sentTo } = setup();
      const email = uniqueEmail('f4b');
      const t0 = clock.now();
      const laptop = net.location('laptop-fra');
      const { id } = await registerLead(laptop, SECRET, input(email), ctx(t0));
      const outcomes: string[] = [];
      const phone = net.location('phone-ams');
      for (const [loc, at] of [
        [phone, t0 + 10_000],
        [laptop, t0 + 30_000],
      ] as const) {
        clock.set(at);
        const r = await confirmLead(loc, id, proof(at));
        outcomes.push(r.outcome);
        if (r.outcome === 'confirmed')
          await requestMail(
            { LEADS: loc, MAIL_QUEUE: queue.producer },
            'welcome',
            id,
            undefined,
            new Date(at),
          );
      }
      expect
        .soft(outcomes, 'outcome of the first and the second confirmation')
        .toEqual(['confirmed', 'already']);
      clock.set(t0 + 31_000);
      await drain();
      expect.soft(sentTo(email), 'welcome mails sent').toBe(1);
    }
  });

  it('5: a confirmation job is acknowledged only when its mail went out, even after a cached miss', async () => {
    // The phone's submit lost the race of failure 3 (429) at its location and left a cached
    // miss there; the laptop's registration stands. The confirmation job runs at the phone's location.
    // Registered at hh:02:30: the sweep at hh:17 finds the lead too young (< 15 min), the next one takes it.
    const hour = Math.floor(Date.now() / (60 * MINUTE)) * 60 * MINUTE;
    const { clock, net, queue, mailEnv, drain, sentTo } = setup({ startMs: hour + 150_000 });
    vi.resetModules();
    const isolateB: typeof isolateA = await import('../../worker/lead-store');
    const email = uniqueEmail('f5');
    const t0 = clock.now();
    const [laptop] = await Promise.allSettled([
      isolateA.registerLead(net.location('laptop-fra'), SECRET, input(email), ctx(t0)),
      isolateB.registerLead(net.location('phone-ams'), SECRET, input(email), ctx(t0)),
    ]);
    if (laptop.status !== 'fulfilled') throw new Error('the laptop registration should stand');
    const registration = mailEnv('laptop-fra');
    await requestConfirmation(registration, laptop.value.id, laptop.value.outcome, undefined, new Date(t0));
    clock.set(t0 + 5_000);
    await queue.deliver(
      (b, e: MailEnv) => consumeMailBatch(b, e, new Date(clock.now())),
      () => mailEnv('phone-ams'),
    );
    expect.soft(sentTo(email), 'confirmation mails sent by the first delivery').toBe(1);
    // When does it go out instead? The hourly sweep (minute 17) takes pending leads older than 15 min.
    let sentAfterMin = -1;
    for (
      let cron = hour + 17 * MINUTE;
      cron < t0 + 3 * 60 * MINUTE && sentAfterMin < 0;
      cron += 60 * MINUTE
    ) {
      if (cron < t0) continue;
      clock.set(cron);
      await sweepConfirmations(mailEnv('cron'), new Date(cron));
      await drain();
      if (sentTo(email) > 0) sentAfterMin = (cron - t0) / MINUTE;
    }
    expect
      .soft(sentAfterMin, 'minutes until the confirmation mail went out (registered at hh:02:30)')
      .toBeLessThan(1);
  });

  it('6: parallel consumers send one mail per (lead, kind), whatever the duplicates', async () => {
    const { clock, net, queue, mailEnv, sentTo } = setup();
    const email = uniqueEmail('f6');
    const fra = net.location('fra');
    const { id } = await registerLead(fra, SECRET, input(email), ctx(clock.now()));
    clock.advance(20_000);
    await confirmLead(fra, id, proof(clock.now()));
    await requestMail(
      { LEADS: fra, MAIL_QUEUE: queue.producer },
      'welcome',
      id,
      undefined,
      new Date(clock.now()),
    );
    const duplicated = new QueueNetwork({ clock: clock.now, duplicates: 1, concurrency: 2 });
    await duplicated.producer.send(queue.sent[0].body);
    await duplicated.drain(
      (b, e: MailEnv) => consumeMailBatch(b, e, new Date(clock.now())),
      ({ location }) => mailEnv(location),
    );
    expect(sentTo(email), 'welcome mails sent for one job delivered twice').toBe(1);
  });

  it('7: the giveaway draw runs once, and never picks a lead erased before it', async () => {
    // KV documents list changes as visible "up to 60 seconds" later: the double lags that much here.
    const { clock, net } = setup({ listLagMs: 60_000 });
    const t0 = clock.now();
    const fra = net.location('fra');
    const ids: string[] = [];
    for (const tag of ['f7a', 'f7b']) {
      clock.set(t0);
      const { id } = await registerLead(fra, SECRET, input(uniqueEmail(tag), { giveaway: true }), ctx(t0));
      clock.set(t0 + 5_000);
      await confirmLead(fra, id, proof(clock.now()));
      ids.push(id);
    }
    const deadline = new Date(t0 + 30 * DAY).toISOString();
    clock.set(t0 + 2 * 60 * MINUTE);
    const first = await drawWinners(fra, { winners: 1, by: 'ops-fra', deadline, now: new Date(clock.now()) });
    clock.advance(30_000);
    const second = await drawWinners(net.location('ams'), {
      winners: 1,
      by: 'ops-ams',
      deadline,
      now: new Date(clock.now()),
    });
    expect
      .soft([first.ok, second.ok ? 'drawn again' : second.reason], 'first and second draw')
      .toEqual([true, 'already_drawn']);

    const fresh = setup({ listLagMs: 60_000 });
    for (const id of ids) {
      const record = origin(net, id)!;
      fresh.net.seed(LEAD_PREFIX + id, JSON.stringify(record), { metadata: metadataOf(record) });
    }
    await eraseLead(fresh.net.location('fra'), ids[0], { at: new Date(fresh.clock.now()), by: 'visitor' });
    fresh.clock.advance(5_000);
    const draw = await drawWinners(fresh.net.location('fra'), {
      winners: 2,
      by: 'ops',
      deadline: new Date(fresh.clock.now() + 30 * DAY).toISOString(),
      now: new Date(fresh.clock.now()),
    });
    const winners = draw.ok ? draw.record.winners.map((w) => w.id) : [];
    expect
      .soft(winners.includes(ids[0]), 'the lead erased 5 s before the draw is among the winners')
      .toBe(false);
  });

  it('8: the hourly sweep and purge fit one invocation at 350,000 leads, and purge keeps the 30 days', async () => {
    // Scale 1:100: list pages of 10 keys instead of 1,000, so 3,500 keys cost the list calls of
    // 350,000; the budget (1,000) and the purge's 200 deletes stay real.
    const SCALE = 100;
    const hourly = async (keys: number, stale: number, pageMax = 1000 / SCALE) => {
      const { clock, net, mailEnv } = setup({ listPageMax: pageMax });
      const now = clock.now();
      const ids = Array.from({ length: keys }, () =>
        [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, '0')).join(''),
      ).sort();
      // Worst case for the budget: the leads past retention sort last, so purge pages through all.
      ids.forEach((id, i) => {
        const old = i >= keys - stale;
        const c = new Date(old ? now - 40 * DAY : now - 20 * DAY).toISOString();
        net.seed(LEAD_PREFIX + id, '{}', {
          metadata: { e: `x${i}@beispiel.de`, s: old ? 'pending' : 'confirmed', c, p: 'before', x: 1 },
        });
      });
      const e = mailEnv('cron');
      const mark = logMark();
      await runScheduled(CRON_HOURLY, e, new Date(now)).catch(() => undefined);
      const failures = logsSince(mark)
        .filter((l) => l.text.includes('cron.failed'))
        .map((l) => JSON.parse(l.text) as { part: string; message: string });
      const left = net
        .storedKeys(LEAD_PREFIX)
        .filter((k) => (net.stored(k)!.metadata as { s: string }).s === 'pending').length;
      return {
        failures,
        operations: (e.LEADS as unknown as { operationCount: number }).operationCount,
        left,
      };
    };

    const big = await hourly(3_500, 200);
    let lo = 1_000;
    let hi = 3_500;
    while (hi - lo > 10) {
      const mid = Math.round((lo + hi) / 20) * 10;
      if ((await hourly(mid, 200)).failures.length) hi = mid;
      else lo = mid;
    }
    expect
      .soft(
        big.failures.map((f) => `${f.part}: ${f.message}`),
        `hourly run at 350,000 lead keys (${big.operations} KV operations attempted; ` +
          `fits up to ${lo * SCALE} keys, fails from ${hi * SCALE})`,
      )
      .toEqual([]);

    const backlog = await hourly(400, 300, 1000);
    expect.soft(backlog.left, 'unconfirmed leads older than 30 days left after the hourly purge').toBe(0);
  });
});
