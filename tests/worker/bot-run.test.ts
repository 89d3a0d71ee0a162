/**
 * A bot run against the registration (issue 12): 5,000 attempts from 500 IPv4 and IPv6
 * clients: posts straight to the API without a solution, replayed solutions, forged ones,
 * and a fast honest solver aiming at a few victims' mailboxes (list bombing). A real
 * visitor registers in the middle of it. Then every queued job is consumed, each delivered
 * twice to parallel consumers as the real network may. The confirmation mails that went
 * out must stay within the budgets, and nothing is stored for a refused attempt.
 */
import { createExecutionContext, createMessageBatch, env, getQueueResult } from 'cloudflare:test';
import { solveChallenge } from 'altcha-lib/v1';
import { describe, expect, it } from 'vitest';
import { app } from '../../worker/app';
import worker from '../../worker/index';
import { leadId } from '../../worker/store/lead-keys';
import { fakeEmail, fakeQueue } from './mail-helpers';

const ATTEMPTS = 5_000;
const CLIENTS = 500;
const GLOBAL_HOURLY = 40;
const PER_ADDRESS = 3;
const VICTIMS = Array.from(
  { length: 20 },
  (_, i) => `opfer.${i}.${Date.now().toString(36)}@beispiel-firma.de`,
);

function clientIp(i: number): string {
  const n = i % CLIENTS;
  return n % 2 ? `198.18.${n >> 8}.${n & 255}` : `2001:db8:${n.toString(16)}::${(i % 7) + 1}`;
}

describe('a bot run of 5,000 attempts from 500 clients', () => {
  it('stores nothing without a valid solution and keeps confirmation mails within the budgets', async () => {
    const queue = fakeQueue();
    const bindings = {
      ...env,
      MAIL_QUEUE: queue.binding,
      MAIL_GLOBAL_HOURLY: String(GLOBAL_HOURLY),
      MAIL_PER_ADDRESS_24H: String(PER_ADDRESS),
    };
    const post = (body: unknown, ip: string) =>
      app.request(
        '/api/register',
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'cf-connecting-ip': ip },
          body: JSON.stringify(body),
        },
        bindings,
      );
    const solve = async (ip: string) => {
      const res = await app.request(
        '/api/register/challenge',
        { headers: { 'cf-connecting-ip': ip } },
        bindings,
      );
      const c = (await res.json()) as {
        algorithm: string;
        challenge: string;
        maxnumber: number;
        salt: string;
        signature: string;
      };
      const s = await solveChallenge(c.challenge, c.salt, c.algorithm, c.maxnumber).promise;
      return btoa(JSON.stringify({ ...c, number: s!.number, maxnumber: undefined }));
    };

    const replayed = await Promise.all([0, 1, 2, 3, 4].map((i) => solve(clientIp(i))));
    const statuses = new Map<string, number[]>();
    const note = (kind: string, status: number) =>
      statuses.set(kind, [...(statuses.get(kind) ?? []), status]);
    const refusedAddresses: string[] = [];
    const realVisitor = `echte.person.${Date.now().toString(36)}@beispiel.de`;

    for (let i = 0; i < ATTEMPTS; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, async (_, j) => {
          const n = i + j;
          const ip = clientIp(n);
          const kind = n % 10 < 4 ? 'no_solution' : n % 10 < 6 ? 'replay' : n % 10 < 7 ? 'forged' : 'honest';
          if (kind === 'no_solution' || kind === 'forged') {
            const email = `bot.${n}@wegwerf.example`;
            refusedAddresses.push(email);
            const altcha =
              kind === 'forged' ? btoa(JSON.stringify({ algorithm: 'SHA-256', number: 1 })) : undefined;
            note(kind, (await post({ email, privacy: true, altcha }, ip)).status);
          } else if (kind === 'replay') {
            const email = `replay.${n}@wegwerf.example`;
            note(
              kind,
              (await post({ email, privacy: true, altcha: replayed[n % replayed.length] }, ip)).status,
            );
          } else {
            const email = VICTIMS[Math.floor(n / 10) % VICTIMS.length].replace('@', `+${n}@`);
            note(kind, (await post({ email, privacy: true, altcha: await solve(ip) }, ip)).status);
          }
        }),
      );
      if (i === 2_500) {
        const res = await post(
          { email: realVisitor, privacy: true, altcha: await solve('203.0.113.77') },
          '203.0.113.77',
        );
        expect(res.status).toBe(200);
      }
    }

    // Refused: 403 for every post without or with a forged solution; a replay only works once.
    expect(new Set(statuses.get('no_solution'))).toEqual(new Set([403]));
    expect(new Set(statuses.get('forged'))).toEqual(new Set([403]));
    expect(statuses.get('replay')!.filter((s) => s === 200).length).toBeLessThanOrEqual(replayed.length);
    expect(statuses.get('honest')!.every((s) => s === 200)).toBe(true);
    const refusedIds = await Promise.all(
      refusedAddresses.slice(0, 300).map((e) => leadId(e, env.LEAD_KEY_SECRET)),
    );
    const stored = await env.DB.prepare(
      'SELECT COUNT(*) AS n FROM leads WHERE id IN (SELECT value FROM json_each(?1))',
    )
      .bind(JSON.stringify(refusedIds))
      .first<{ n: number }>();
    expect(stored!.n).toBe(0);

    // Consume every job twice, five consumers at a time, as at-least-once delivery may.
    const jobs = [...queue.messages];
    queue.messages.length = 0;
    const mail = fakeEmail();
    const consumers = { ...bindings, EMAIL: mail.binding };
    const doubled = jobs.flatMap((body, k) => [
      { id: `a${k}`, timestamp: new Date(), attempts: 1, body },
      { id: `b${k}`, timestamp: new Date(), attempts: 1, body },
    ]);
    for (let k = 0; k < doubled.length; k += 250)
      await Promise.all(
        Array.from({ length: 5 }, async (_, c) => {
          const slice = doubled.slice(k + c * 50, k + (c + 1) * 50);
          if (!slice.length) return;
          const batch = createMessageBatch('webinar-mail', slice);
          const ctx = createExecutionContext();
          await worker.queue(batch, consumers as Env);
          await getQueueResult(batch, ctx);
        }),
      );

    const confirmations = mail.sent.filter((m) => /bestätigen/i.test(m.subject));
    expect(confirmations.length).toBeLessThanOrEqual(GLOBAL_HOURLY);
    for (const victim of VICTIMS) {
      const box = victim.split('@')[0];
      expect(confirmations.filter((m) => m.to.startsWith(`${box}+`)).length).toBeLessThanOrEqual(PER_ADDRESS);
    }
    // The budgets were what limited the bots (20 mailboxes × 3 would be 60 mails).
    expect(confirmations.length).toBeGreaterThanOrEqual(GLOBAL_HOURLY - 5);
    // Nothing went to an address whose attempt was refused.
    expect(confirmations.some((m) => m.to.endsWith('@wegwerf.example') && m.to.startsWith('bot.'))).toBe(
      false,
    );
    // The real visitor's confirmation went out or waits for the next window: never dropped.
    const visitorSent = confirmations.some((m) => m.to === realVisitor);
    const visitorId = await leadId(realVisitor, env.LEAD_KEY_SECRET);
    const waiting = (queue.messages as { leadId: string }[]).some((j) => j.leadId === visitorId);
    expect(visitorSent || waiting).toBe(true);
    // The bots spent the hour's budget: the rest waits (paced), it is not thrown away.
    expect(queue.messages.length).toBeGreaterThan(0);
  }, 240_000);
});
