/**
 * Holes a security test found in admin auth (issue 12): unlimited credential guessing on
 * every route but sign-in, shared tokens beside Access, JWTs without exp/iat, an
 * unbounded key fetch, session expiry values, and an unaudited logout.
 */
import { env, SELF } from 'cloudflare:test';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { app } from '../../worker/app';
import { resetAccessKeyCache, SESSION_TTL_S, verifySessionValue } from '../../worker/auth';
import { uniqueIp } from './helpers';

const ORIGIN = 'https://webinar.test';
const TEAM = 'holes.cloudflareaccess.com';
const AUD = 'aud-holes';

afterEach(() => {
  vi.restoreAllMocks();
  resetAccessKeyCache();
});

async function auditCount(action: string): Promise<number> {
  const row = await env.DB.prepare('SELECT COUNT(*) AS n FROM audit_log WHERE action = ?1')
    .bind(action)
    .first<{ n: number }>();
  return row!.n;
}

describe('guessing credentials on any admin route', () => {
  it.each([
    [
      'a Bearer token on /api/admin/me',
      '/api/admin/me',
      { authorization: 'Bearer falscher-schluessel-0123456789' },
    ],
    [
      'a Bearer token on /api/admin/leads',
      '/api/admin/leads',
      { authorization: 'Bearer noch-ein-versuch-0123456789' },
    ],
    [
      'a forged session cookie on /api/admin/stats',
      '/api/admin/stats',
      { cookie: '__Host-admin_session=v1.ops.9.x.y.z' },
    ],
  ])(
    'spends the client budget for %s and then answers 429 with Retry-After',
    async (_name, path, headers) => {
      const ip = uniqueIp();
      const before = await auditCount('auth.failed');
      const statuses: number[] = [];
      for (let i = 0; i < 14; i++) {
        const res = await SELF.fetch(ORIGIN + path, { headers: { ...headers, 'cf-connecting-ip': ip } });
        statuses.push(res.status);
        if (res.status === 429) {
          expect(res.headers.get('retry-after')).toBe('60');
          expect(((await res.json()) as { error: string }).error).toMatch(
            /Zu viele ungültige Anmeldeversuche/,
          );
        }
      }
      expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
      expect(statuses.slice(10)).toEqual(Array(4).fill(429));
      // The audit log took at most the budget's worth of entries, not one per guess.
      expect((await auditCount('auth.failed')) - before).toBeLessThanOrEqual(10);
    },
  );

  it('never throttles a valid credential from a client that guessed before', async () => {
    const ip = uniqueIp();
    for (let i = 0; i < 12; i++)
      await SELF.fetch(`${ORIGIN}/api/admin/me`, {
        headers: { authorization: 'Bearer falsch-falsch-falsch-0123', 'cf-connecting-ip': ip },
      });
    const ok = await SELF.fetch(`${ORIGIN}/api/admin/me`, {
      headers: { authorization: `Bearer ${env.OPS_TOKEN}`, 'cf-connecting-ip': ip },
    });
    expect(ok.status).toBe(200);
  });
});

describe('with Cloudflare Access configured', () => {
  const accessEnv = () => ({
    ...env,
    ACCESS_TEAM_DOMAIN: TEAM,
    ACCESS_AUD: AUD,
    ACCESS_ROLES: 'ops:ops.person@firma.de,service-client-id.access',
  });
  let privateKey: CryptoKey;
  let jwk: JWK;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    privateKey = pair.privateKey as CryptoKey;
    jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  });

  function stubJwks(respond?: (init?: RequestInit) => Promise<Response>) {
    return vi.spyOn(globalThis, 'fetch').mockImplementation(async (_input, init) =>
      respond
        ? respond(init)
        : new Response(JSON.stringify({ keys: [jwk] }), {
            headers: { 'content-type': 'application/json' },
          }),
    );
  }

  function jwt(claims: Record<string, unknown>, o: { iat?: boolean; exp?: boolean } = {}) {
    const t = new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(`https://${TEAM}`)
      .setAudience(AUD);
    if (o.iat !== false) t.setIssuedAt();
    if (o.exp !== false) t.setExpirationTime('5m');
    return t.sign(privateKey);
  }

  const me = (headers: Record<string, string>) =>
    app.request('/api/admin/me', { headers: { 'cf-connecting-ip': uniqueIp(), ...headers } }, accessEnv());

  it('refuses the shared tokens and the token sign-in for people', async () => {
    stubJwks();
    const bearer = await me({ authorization: `Bearer ${env.OPS_TOKEN}` });
    expect(bearer.status).toBe(401);
    expect(((await bearer.json()) as { error: string }).error).toMatch(/Cloudflare Access/);
    const signIn = await app.request(
      '/api/admin/session',
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: 'http://localhost' },
        body: JSON.stringify({ token: env.OPS_TOKEN }),
      },
      accessEnv(),
    );
    expect(signIn.status).toBe(403);
    expect(signIn.headers.get('set-cookie')).toBeNull();
  });

  it('lets a script in with an Access service token listed in ACCESS_ROLES', async () => {
    stubJwks();
    const res = await me({
      'cf-access-jwt-assertion': await jwt({ common_name: 'service-client-id.access' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ role: 'ops', id: 'service-client-id.access' });
  });

  it.each([
    ['without exp', { exp: false }],
    ['without iat', { iat: false }],
  ])('refuses a JWT %s', async (_name, opts) => {
    stubJwks();
    const res = await me({ 'cf-access-jwt-assertion': await jwt({ email: 'ops.person@firma.de' }, opts) });
    expect(res.status).toBe(401);
  });

  it('gives up on a hanging key fetch after about 2 s and remembers the failure briefly', async () => {
    const fetchSpy = stubJwks(
      (init) =>
        new Promise<Response>((_, reject) => {
          // Never answers by itself: only the abort of the bounded fetch ends it.
          init?.signal?.addEventListener('abort', () => reject(init.signal!.reason));
        }),
    );
    const token = await jwt({ email: 'ops.person@firma.de' });
    const started = Date.now();
    expect((await me({ 'cf-access-jwt-assertion': token })).status).toBe(401);
    expect(Date.now() - started).toBeLessThan(4000);
    const calls = fetchSpy.mock.calls.length;
    expect((await me({ 'cf-access-jwt-assertion': token })).status).toBe(401);
    expect(fetchSpy.mock.calls.length).toBe(calls);
  }, 10_000);
});

describe('sessions', () => {
  it('refuse an expiry that is not a plain integer or lies beyond one session lifetime', async () => {
    const now = Math.floor(Date.now() / 1000);
    const vars = { SESSION_SECRET: env.SESSION_SECRET, OPS_TOKEN: env.OPS_TOKEN };
    // A well-signed value needs the real signer: build one through the sign-in, then vary exp.
    const res = await SELF.fetch(`${ORIGIN}/api/admin/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'cf-connecting-ip': uniqueIp() },
      body: JSON.stringify({ token: env.OPS_TOKEN }),
    });
    const value = /__Host-admin_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1];
    expect(await verifySessionValue(vars, value, now)).not.toBeNull();
    // The same value checked from far in the past: its expiry lies beyond one lifetime.
    expect(await verifySessionValue(vars, value, now - SESSION_TTL_S - 120)).toBeNull();
    const parts = value.split('.');
    for (const exp of [`${now + 60}.5`, '1e12', `+${now + 60}`, ' 1'])
      expect(
        await verifySessionValue(vars, [...parts.slice(0, 2), exp, ...parts.slice(3)].join('.'), now),
      ).toBeNull();
  });

  it('audits a logout', async () => {
    const signIn = await SELF.fetch(`${ORIGIN}/api/admin/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'cf-connecting-ip': uniqueIp() },
      body: JSON.stringify({ token: env.MARKETING_TOKEN }),
    });
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0];
    const before = await auditCount('session.ended');
    const out = await SELF.fetch(`${ORIGIN}/api/admin/session`, { method: 'DELETE', headers: { cookie } });
    expect(out.status).toBe(200);
    expect(await auditCount('session.ended')).toBe(before + 1);
  });
});
