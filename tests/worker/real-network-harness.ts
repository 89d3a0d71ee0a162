/**
 * The app on a simulated Cloudflare network, for tests/worker/real-network.test.ts: the real
 * routes (`app.request`) and the real mail consumer over the test file's D1, mail jobs on
 * the Queues double (duplicates, concurrent consumers, docs/decisions/061), a recording
 * EMAIL binding, and a clock the test moves (`vi.setSystemTime`, which the worker sees).
 *
 * With a fast-check scheduler, every D1 call and every mail send waits for the scheduler,
 * so a property decides how requests, consumers and cron interleave. Every step leaves an
 * event with a sequence number, the order the invariants are judged by.
 */
import { env } from 'cloudflare:test';
import { solveChallenge } from 'altcha-lib/v1';
import type { Scheduler } from 'fast-check';
import { vi } from 'vitest';
import { CHALLENGE_TTL_MS, maxNumberOf, newChallenge } from '../../worker/abuse/challenge';
import { app } from '../../worker/app';
import { DEFAULT_CONFIG } from '../../worker/config-store';
import { consumeMailBatch } from '../../worker/mail/consumer';
import { MAIL_KINDS, type MailKind, type ReminderKind } from '../../worker/mail/jobs';
import { renderMail } from '../../worker/mail/templates';
import { leadKeys } from '../../worker/store/lead-keys';
import { CRON_HOURLY, CRON_REMINDERS, runScheduled } from '../../worker/reminders';
import { eraseAddress } from '../../worker/store/lead-store';
import { scheduleOf } from '../../src/lib/schedule';
import { QueueNetwork, type QueueNetworkOptions } from './doubles/queue-network';
import { uniqueIp } from './helpers';

export const START_MS = scheduleOf(DEFAULT_CONFIG.webinar).startMs;

/** Subject → kind, so a mailbox can be counted the way its owner sees it. */
const KIND_OF_SUBJECT = new Map<string, MailKind>(
  MAIL_KINDS.flatMap((kind) =>
    [false, true].map((afterWebinar) => {
      const links = { site: 'https://x.test', unsubscribe: 'u', erase: 'e', confirm: 'c' };
      const config = DEFAULT_CONFIG;
      const { subject } = renderMail({ kind, config, links, afterWebinar, purgeDays: 30 });
      return [subject, kind] as const;
    }),
  ),
);

/**
 * A solved challenge made in-process, as GET /api/register/challenge makes it. Not through
 * SELF: fetched thousands of times within a real minute the route's per-client limiter
 * and its HTTP round trip would dominate a property's runtime.
 */
async function solvedHere(): Promise<string> {
  const c = await newChallenge(env.LEAD_KEY_SECRET, maxNumberOf(env, false));
  const solution = await solveChallenge(c.challenge, c.salt, c.algorithm, c.maxnumber).promise;
  if (!solution) throw new Error('challenge not solved');
  const { algorithm, challenge, salt, signature } = c;
  return btoa(JSON.stringify({ algorithm, challenge, number: solution.number, salt, signature }));
}

export interface Delivered {
  seq: number;
  to: string;
  kind: MailKind | 'unknown';
  text: string;
  at: number;
}

export interface Acked {
  seq: number;
  body: { type?: string; kind?: string; leadId?: string; ref?: string };
}

export type Gate = (label: string) => Promise<void>;

const REAL = Symbol('real statement');

/**
 * D1 whose calls each wait for the gate first and count their statements (a batch counts
 * each of its statements, as D1's per-invocation limit does). Statements are unwrapped for `batch`.
 */
export function gatedDb(db: D1Database, gate: Gate, counter = { statements: 0 }): D1Database {
  const call = async <T>(label: string, n: number, f: () => Promise<T>) => {
    await gate(label);
    counter.statements += n;
    return f();
  };
  const wrap = (st: D1PreparedStatement): D1PreparedStatement =>
    ({
      [REAL]: st,
      bind: (...args: unknown[]) => wrap(st.bind(...args)),
      first: (col?: string) => call('d1.first', 1, () => (col ? st.first(col) : st.first())),
      run: () => call('d1.run', 1, () => st.run()),
      all: () => call('d1.all', 1, () => st.all()),
      raw: (o?: { columnNames?: boolean }) => call('d1.raw', 1, () => st.raw(o as never)),
    }) as unknown as D1PreparedStatement;
  const real = (st: D1PreparedStatement) => (st as unknown as { [REAL]?: D1PreparedStatement })[REAL] ?? st;
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'prepare') return (sql: string) => wrap(target.prepare(sql));
      if (prop === 'batch')
        return (sts: D1PreparedStatement[]) =>
          call('d1.batch', sts.length, () => target.batch(sts.map(real)));
      const value = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

export interface HarnessOptions {
  scheduler?: Scheduler;
  duplicates?: QueueNetworkOptions['duplicates'];
  concurrency?: number;
  seed?: number;
}

export function harness(o: HarnessOptions = {}) {
  let seq = 0;
  const next = () => ++seq;
  const gate: Gate = o.scheduler
    ? (label) => o.scheduler!.schedule(Promise.resolve(), label)
    : () => Promise.resolve();
  vi.setSystemTime(START_MS - 3 * 86_400_000);

  const delivered: Delivered[] = [];
  const acked: Acked[] = [];
  const statuses: { path: string; status: number; stale?: true }[] = [];
  const email = {
    send: async (m: { to: string; subject: string; text: string }) => {
      await gate('email.send');
      delivered.push({
        seq: next(),
        to: m.to,
        kind: KIND_OF_SUBJECT.get(m.subject) ?? 'unknown',
        text: m.text,
        at: Date.now(),
      });
      return { messageId: `<${delivered.length}@test>` };
    },
  } as unknown as SendEmail;
  const queue = new QueueNetwork({
    name: 'webinar-mail',
    clock: () => Date.now(),
    duplicates: o.duplicates ?? 1,
    concurrency: o.concurrency ?? 3,
    seed: o.seed,
    maxRetries: 5,
  });
  const dlq = new QueueNetwork({ name: 'webinar-mail-dlq', clock: () => Date.now() });
  const d1 = { statements: 0 };
  const db = gatedDb(env.DB, gate, d1);
  const bindings: Env = {
    ...env,
    DB: db,
    EMAIL: email,
    MAIL_QUEUE: queue.producer,
    MAIL_DLQ: dlq.producer,
    DEV_OUTBOX: '',
  };

  /** The consumer as the runtime calls it, with every ack recorded in order. */
  const consumer = (batch: MessageBatch<unknown>, e: Env) => {
    const messages = batch.messages.map((m) => ({
      id: m.id,
      timestamp: m.timestamp,
      body: m.body,
      attempts: m.attempts,
      ack: () => {
        acked.push({ seq: next(), body: m.body as Acked['body'] });
        m.ack();
      },
      retry: (opts?: QueueRetryOptions) => m.retry(opts),
    }));
    return consumeMailBatch({ ...batch, messages, ackAll: batch.ackAll, retryAll: batch.retryAll }, e);
  };

  /** `since`: when the page was loaded; a challenge older than its lifetime is refused by design. */
  async function request(path: string, init: RequestInit, since = Date.now()) {
    const res = await app.request(path, init, bindings);
    const stale = Date.now() - since >= CHALLENGE_TTL_MS;
    statuses.push({ path, status: res.status, ...(stale ? { stale } : {}) });
    await res.arrayBuffer();
    return res.status;
  }

  /** The newest link of a purpose in the person's mailbox, if any mail has one. */
  function link(address: string, path: '/bestaetigen' | '/abmelden' | '/loeschen'): string | null {
    const re = new RegExp(`${path}\\?t=([\\w.-]+)`);
    for (let i = delivered.length - 1; i >= 0; i--) {
      const m = delivered[i].to === address ? re.exec(delivered[i].text) : null;
      if (m) return m[1];
    }
    return null;
  }

  return {
    queue,
    delivered,
    acked,
    statuses,
    bindings,
    next,
    keys: (address: string) => leadKeys(address, env.LEAD_KEY_SECRET),
    jump: (ms: number) => vi.setSystemTime(Date.now() + ms),

    /** POST /api/register as the enhanced form sends it (challenge solved); the HTTP status. */
    register: async (address: string, c: { giveaway?: boolean; newsletter?: boolean } = {}) => {
      const loaded = Date.now();
      const altcha = await solvedHere();
      const body = {
        altcha,
        email: address,
        privacy: true,
        giveaway: !!c.giveaway,
        newsletter: !!c.newsletter,
      };
      return request(
        '/api/register',
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'cf-connecting-ip': uniqueIp() },
          body: JSON.stringify(body),
        },
        loaded,
      );
    },

    /** Clicks the button behind the newest link of that kind in the mailbox; null without one. */
    click: async (address: string, path: '/bestaetigen' | '/abmelden' | '/loeschen') => {
      const t = link(address, path);
      if (!t) return null;
      return request(path, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': uniqueIp() },
        body: new URLSearchParams({ t }).toString(),
      });
    },

    /** Erasure by ops (by address), for a person who has no mail with an erase link. */
    eraseByOps: (address: string) =>
      eraseAddress(db, env.LEAD_KEY_SECRET, address, { atMs: Date.now(), by: 'ops' }),

    /** D1 statements run through the bindings so far. */
    d1,

    /** One real cron invocation (worker/reminders.ts) at the current time. */
    cron: (which: 'hourly' | '5min') =>
      runScheduled(which === 'hourly' ? CRON_HOURLY : CRON_REMINDERS, bindings, new Date()),

    /** What the 5-minute cron enqueues when a reminder is due, as one slice over all ids. */
    fanOut: (kind: ReminderKind) =>
      queue.producer.send({
        type: 'fanout',
        kind,
        startMs: START_MS,
        requestedAt: Date.now(),
        idFrom: '0',
        idTo: '~',
      }),

    /** One delivery round of what is due now. */
    consume: () => queue.deliver(consumer, () => bindings),

    /** Delivers until the queue is empty, moving the clock past retry delays. */
    settle: async (rounds = 30) => {
      for (let i = 0; i < rounds && queue.backlog.length; i++) {
        const due = Math.min(...queue.backlog.map((m) => m.availableAt));
        if (due > Date.now()) vi.setSystemTime(due);
        await queue.deliver(consumer, () => bindings);
      }
    },

    /** Mails of one kind that reached an address. */
    mails: (address: string, kind?: MailKind) =>
      delivered.filter((d) => d.to === address && (!kind || d.kind === kind)).length,
  };
}

export type Harness = ReturnType<typeof harness>;
