/** The proof-of-work challenge (ALTCHA v1) and the per-client limit in front of it (issue 12). */
import { env, SELF } from 'cloudflare:test';
import { solveChallenge } from 'altcha-lib/v1';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { forgetAttackMode, setAttackMode } from '../../worker/abuse/attack-mode';
import { clientKey } from '../../worker/request-context';
import { postJson, solvedChallenge, storedLead, uniqueEmail, uniqueIp } from './helpers';

afterEach(() => {
  vi.useRealTimers();
  forgetAttackMode();
});

interface Challenge {
  algorithm: string;
  challenge: string;
  maxnumber: number;
  salt: string;
  signature: string;
}

const getChallenge = (ip = uniqueIp()) =>
  SELF.fetch('https://webinar.test/api/register/challenge', { headers: { 'cf-connecting-ip': ip } });

const decode = (altcha: string) => JSON.parse(atob(altcha)) as Challenge & { number: number };
const encode = (p: object) => btoa(JSON.stringify(p));

describe('GET /api/register/challenge', () => {
  it('hands out a signed SHA-256 challenge at the configured cost, never cached', async () => {
    const res = await getChallenge();
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const c = (await res.json()) as Challenge;
    expect(c).toMatchObject({ algorithm: 'SHA-256', maxnumber: Number(env.ALTCHA_MAX_NUMBER) });
    expect(c.challenge).toMatch(/^[0-9a-f]{64}$/);
    expect(c.signature).toMatch(/^[0-9a-f]{64}$/);
    expect(c.salt).toMatch(/\?expires=\d{10}&$/);
  });

  it('costs ten times more while attack mode is on', async () => {
    await setAttackMode(env.DB, { on: true, by: 'ops', since: Date.now() });
    const c = (await (await getChallenge()).json()) as Challenge;
    expect(c.maxnumber).toBe(Number(env.ALTCHA_MAX_NUMBER) * 10);
    await setAttackMode(env.DB, { on: false, by: 'ops', since: Date.now() });
  });

  it('allows three times the registration limit per client before answering 429', async () => {
    const ip = uniqueIp();
    const statuses: number[] = [];
    for (let i = 0; i < 62; i++) statuses.push((await getChallenge(ip)).status);
    expect(statuses.slice(0, 60).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(60)).toContain(429);
  });
});

describe('POST /api/register (JSON) and its solution', () => {
  it('refuses a registration without a solution with 403 in German and stores nothing', async () => {
    const email = uniqueEmail('nopow');
    const res = await postJson({ email, privacy: true, altcha: undefined });
    expect(res.status).toBe(403);
    const body = (await res.json()) as { ok: boolean; errors: { form: string } };
    expect(body.ok).toBe(false);
    expect(body.errors.form).toMatch(/noch einmal ab/);
    expect((await storedLead(email)).lead).toBeNull();
  });

  it.each([
    ['a forged signature', (p: Challenge & { number: number }) => ({ ...p, signature: 'f'.repeat(64) })],
    ['a wrong number', (p: Challenge & { number: number }) => ({ ...p, number: p.number + 1 })],
    ['another algorithm', (p: Challenge & { number: number }) => ({ ...p, algorithm: 'SHA-1' })],
    [
      'a salt with a later expiry spliced in',
      (p: Challenge & { number: number }) => ({ ...p, salt: p.salt.replace(/\d{10}/, '9999999999') }),
    ],
  ])('refuses %s and stores nothing', async (_name, alter) => {
    const email = uniqueEmail('forged');
    const res = await postJson({
      email,
      privacy: true,
      altcha: encode(alter(decode(await solvedChallenge()))),
    });
    expect(res.status).toBe(403);
    expect((await storedLead(email)).lead).toBeNull();
  });

  it.each(['not base64 at all!', btoa('{"algorithm":'), btoa('[]'), 'x'.repeat(2000)])(
    'refuses garbage as a solution (%#) with 403, never 500',
    async (altcha) => {
      const res = await postJson({ email: uniqueEmail('junk'), privacy: true, altcha });
      expect(res.status).toBe(403);
    },
  );

  it('refuses a replayed solution, whatever the address, and stores nothing for it', async () => {
    const altcha = await solvedChallenge();
    const first = uniqueEmail('first');
    const second = uniqueEmail('replay');
    expect((await postJson({ email: first, privacy: true, altcha })).status).toBe(200);
    const again = await postJson({ email: second, privacy: true, altcha });
    expect(again.status).toBe(403);
    expect((await storedLead(second)).lead).toBeNull();
    expect((await storedLead(first)).lead).not.toBeNull();
  });

  it('refuses a solution after it expired', async () => {
    const altcha = await solvedChallenge();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 11 * 60_000);
    const email = uniqueEmail('late');
    expect((await postJson({ email, privacy: true, altcha })).status).toBe(403);
    expect((await storedLead(email)).lead).toBeNull();
  });

  it('binds a solution to its signature and expiry, not to the address that asked for it', async () => {
    const res = await getChallenge('198.51.100.1');
    const c = (await res.json()) as Challenge;
    const s = await solveChallenge(c.challenge, c.salt, c.algorithm, c.maxnumber).promise;
    const altcha = encode({ ...c, number: s!.number, maxnumber: undefined });
    const email = uniqueEmail('othernet');
    const post = await postJson({ email, privacy: true, altcha }, { 'cf-connecting-ip': '203.0.113.99' });
    expect(post.status).toBe(200);
  });
});

describe('the per-client registration limit', () => {
  it('answers 429 before looking at the body or the challenge', async () => {
    const ip = uniqueIp();
    const statuses: number[] = [];
    for (let i = 0; i < 24; i++)
      statuses.push(
        (
          await SELF.fetch('https://webinar.test/api/register', {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'cf-connecting-ip': ip },
            body: '{"kaputt":',
          })
        ).status,
      );
    expect(statuses.slice(0, 20).every((s) => s === 400)).toBe(true);
    expect(statuses.slice(20).every((s) => s === 429)).toBe(true);
  });

  it('counts one IPv6 /64 as one client', async () => {
    const prefix = `2001:db8:${(Date.now() % 65535).toString(16)}:7`;
    const statuses: number[] = [];
    for (let i = 1; i <= 22; i++)
      statuses.push(
        (
          await SELF.fetch('https://webinar.test/api/register', {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'cf-connecting-ip': `${prefix}::${i.toString(16)}`,
            },
            body: '{}',
          })
        ).status,
      );
    expect(statuses).toContain(429);
    expect(statuses.indexOf(429)).toBe(20);
  });

  it.each([
    ['203.0.113.5', '203.0.113.5'],
    ['2001:db8:aa:bb:1:2:3:4', '2001:db8:aa:bb::/64'],
    ['2001:DB8:AA:BB::9', '2001:db8:aa:bb::/64'],
    ['::ffff:198.51.100.7', '198.51.100.7'],
    ['::1', '0:0:0:0::/64'],
  ])('keys %s as %s', (ip, key) => {
    expect(clientKey(ip)).toBe(key);
  });
});
