/** Ops see an attack and act (issue 12): hourly counts, the attack-mode switch, auto on/off. */
import { env, SELF } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  evaluateAttackMode,
  forgetAttackMode,
  readAttackMode,
  setAttackMode,
} from '../../worker/abuse/attack-mode';
import { app } from '../../worker/app';
import { postJson, uniqueEmail, uniqueIp } from './helpers';

const ORIGIN = 'https://webinar.test';
const ops = { authorization: `Bearer ${env.OPS_TOKEN}` };

afterEach(async () => {
  vi.useRealTimers();
  await setAttackMode(env.DB, { on: false, by: 'ops', since: Date.now() });
  forgetAttackMode();
});

interface Hour {
  hour: string;
  accepted: number;
  refused: Record<string, number>;
}

async function currentHour(): Promise<Hour> {
  const res = await SELF.fetch(`${ORIGIN}/api/admin/abuse`, { headers: ops });
  expect(res.status).toBe(200);
  return ((await res.json()) as { hours: Hour[] }).hours[0];
}

/** Counts land within a round trip or two: poll briefly. */
async function eventually(check: (h: Hour) => boolean): Promise<Hour> {
  let h = await currentHour();
  for (let i = 0; i < 40 && !check(h); i++) {
    await new Promise((r) => setTimeout(r, 50));
    h = await currentHour();
  }
  return h;
}

describe('GET /api/admin/abuse', () => {
  it('counts accepted registrations and refusals by reason in the current hour, within seconds', async () => {
    const before = await currentHour();
    await postJson({ email: uniqueEmail('ok'), privacy: true });
    await postJson({ email: uniqueEmail('bot'), privacy: true, website: 'spam' });
    await postJson({ email: uniqueEmail('nopow'), privacy: true, altcha: 'kaputt' });
    const after = await eventually(
      (h) => h.refused.honeypot > before.refused.honeypot && h.refused.challenge > before.refused.challenge,
    );
    expect(after.accepted).toBe(before.accepted + 1);
    expect(after.refused.honeypot).toBe(before.refused.honeypot + 1);
    expect(after.refused.challenge).toBe(before.refused.challenge + 1);
  });

  it('is for ops only', async () => {
    const res = await SELF.fetch(`${ORIGIN}/api/admin/abuse`, {
      headers: { authorization: `Bearer ${env.MARKETING_TOKEN}` },
    });
    expect(res.status).toBe(403);
  });
});

describe('/api/admin/attack-mode', () => {
  it('lets ops switch it on and off, audited, and refuses bad input in German', async () => {
    const put = (body: string) =>
      SELF.fetch(`${ORIGIN}/api/admin/attack-mode`, {
        method: 'PUT',
        headers: { ...ops, 'content-type': 'application/json' },
        body,
      });
    const on = await put('{"on":true}');
    expect(on.status).toBe(200);
    expect(await on.json()).toMatchObject({ ok: true, on: true, by: 'ops' });
    const read = await SELF.fetch(`${ORIGIN}/api/admin/attack-mode`, { headers: ops });
    expect(await read.json()).toMatchObject({ on: true, by: 'ops' });
    const audit = await env.DB.prepare("SELECT detail FROM audit_log WHERE action = 'attack_mode.set'").all();
    expect(audit.results.length).toBeGreaterThanOrEqual(1);
    for (const bad of ['{"on":"ja"}', '{"on":true,"extra":1}', '{kaputt']) {
      const res = await put(bad);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(/on|JSON|Feld/);
    }
    expect((await put('{"on":false}')).status).toBe(200);
    expect((await readAttackMode(env.DB)).on).toBe(false);
  });

  it('is refused to marketing', async () => {
    const res = await SELF.fetch(`${ORIGIN}/api/admin/attack-mode`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${env.MARKETING_TOKEN}`, 'content-type': 'application/json' },
      body: '{"on":true}',
    });
    expect(res.status).toBe(403);
  });
});

describe('attack mode by itself', () => {
  it('turns on above the threshold of refusals in 10 minutes, and off after 30 calm minutes', async () => {
    const lowered = { ...env, ATTACK_REFUSALS_10MIN: '5' };
    for (let i = 0; i < 7; i++)
      await app.request(
        '/api/register',
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'cf-connecting-ip': uniqueIp() },
          body: JSON.stringify({ email: uniqueEmail('flood'), privacy: true }),
        },
        lowered,
      );
    let state = await readAttackMode(env.DB);
    for (let i = 0; i < 40 && !state.on; i++) {
      await new Promise((r) => setTimeout(r, 50));
      state = await readAttackMode(env.DB);
    }
    expect(state).toMatchObject({ on: true, by: 'auto' });

    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(state.since + 20 * 60_000);
    expect((await evaluateAttackMode(env.DB, lowered)).on).toBe(true);
    vi.setSystemTime(state.since + 41 * 60_000);
    expect((await evaluateAttackMode(env.DB, lowered)).on).toBe(false);
  });

  it('never switches off by itself what ops switched on', async () => {
    await setAttackMode(env.DB, { on: true, by: 'ops', since: Date.now() - 3 * 3_600_000 });
    expect((await evaluateAttackMode(env.DB, { ATTACK_REFUSALS_10MIN: '5' })).on).toBe(true);
  });
});
