import { env, SELF } from 'cloudflare:test';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { app } from '../../worker/app';
import { readAudit } from '../../worker/audit-log';
import { resetAccessKeyCache } from '../../worker/auth';
import { uniqueIp } from './helpers';

const ORIGIN = 'https://webinar.test';
const OPS = env.OPS_TOKEN;
const MARKETING = env.MARKETING_TOKEN;

afterEach(() => {
  vi.restoreAllMocks();
  resetAccessKeyCache();
});

async function signIn(token: string, ip = uniqueIp()) {
  const res = await SELF.fetch(`${ORIGIN}/api/admin/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: ORIGIN, 'cf-connecting-ip': ip },
    body: JSON.stringify({ token }),
  });
  return res;
}

function cookieOf(res: Response): string {
  const set = res.headers.get('set-cookie') ?? '';
  return set.split(';')[0];
}

describe('POST /api/admin/session (sign-in)', () => {
  it('sets an HttpOnly, Secure, SameSite=Strict session cookie for a right token', async () => {
    const res = await signIn(OPS);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { role: string; csrf: string };
    expect(body.role).toBe('ops');
    expect(body.csrf.length).toBeGreaterThan(20);
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^__Host-admin_session=/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/Secure/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(cookie).toMatch(/Path=\//);
    expect(cookie).toMatch(/Max-Age=28800/);
    expect(cookie).not.toContain(OPS);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('refuses a wrong token with a German message and audits it without the secret', async () => {
    const wrong = 'wrong-token-' + crypto.randomUUID();
    const res = await signIn(wrong);
    expect(res.status).toBe(401);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(await res.json()).toEqual({ ok: false, error: 'Der Zugangsschlüssel ist falsch.' });
    const { entries } = await readAudit(env.DB, { limit: 1000 });
    const failure = entries.find((e) => e.action === 'session.failed');
    expect(failure).toBeDefined();
    expect(JSON.stringify(entries)).not.toContain(wrong);
  });

  it('allows 10 attempts a minute per IP, then answers 429 even for the right token', async () => {
    const ip = uniqueIp();
    for (let i = 0; i < 10; i++) expect((await signIn('falsch-' + i, ip)).status).toBe(401);
    const limited = await signIn(OPS, ip);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('60');
    expect(limited.headers.get('set-cookie')).toBeNull();
    expect(((await limited.json()) as { error: string }).error).toMatch(/Zu viele Anmeldeversuche/);
    expect((await signIn(OPS)).status).toBe(200); // another address is not affected
  });

  it('rejects an empty token and malformed JSON with 400', async () => {
    const empty = await signIn('   ');
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { error: string }).error).toBe(
      'Bitte geben Sie Ihren Zugangsschlüssel ein.',
    );
    const bad = await SELF.fetch(`${ORIGIN}/api/admin/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{nope',
    });
    expect(bad.status).toBe(400);
  });

  it('refuses a sign-in posted from another origin', async () => {
    const res = await SELF.fetch(`${ORIGIN}/api/admin/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
      body: JSON.stringify({ token: OPS }),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('set-cookie')).toBeNull();
  });

  it('DELETE clears the cookie (sign-out)', async () => {
    const res = await SELF.fetch(`${ORIGIN}/api/admin/session`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toMatch(/__Host-admin_session=;.*Max-Age=0/);
  });
});

describe('GET /api/admin/me', () => {
  it('answers 401 in German without a credential', async () => {
    const res = await SELF.fetch(`${ORIGIN}/api/admin/me`);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ ok: false, error: 'Bitte melden Sie sich an.' });
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('names the role for a bearer token and for a session cookie', async () => {
    const bearer = await SELF.fetch(`${ORIGIN}/api/admin/me`, {
      headers: { authorization: `Bearer ${MARKETING}` },
    });
    expect(await bearer.json()).toMatchObject({ ok: true, role: 'marketing', id: 'token:marketing' });
    const cookie = cookieOf(await signIn(OPS));
    const viaCookie = await SELF.fetch(`${ORIGIN}/api/admin/me`, { headers: { cookie } });
    expect(await viaCookie.json()).toMatchObject({ ok: true, role: 'ops', id: 'token:ops' });
  });

  it('refuses a tampered or foreign session cookie', async () => {
    const cookie = cookieOf(await signIn(MARKETING));
    const tampered = cookie.replace('.marketing.', '.ops.');
    const res = await SELF.fetch(`${ORIGIN}/api/admin/me`, { headers: { cookie: tampered } });
    expect(res.status).toBe(401);
  });

  it('ends a session when its token is rotated', async () => {
    const cookie = cookieOf(await signIn(OPS));
    const res = await app.request(
      '/api/admin/me',
      { headers: { cookie } },
      { ...env, OPS_TOKEN: 'rotated-ops-token-0123456789abcdef' },
    );
    expect(res.status).toBe(401);
  });

  it('refuses an expired session', async () => {
    const cookie = cookieOf(await signIn(OPS));
    vi.useFakeTimers();
    vi.setSystemTime(Date.now() + 8 * 3600 * 1000 + 1000);
    try {
      const res = await SELF.fetch(`${ORIGIN}/api/admin/me`, { headers: { cookie } });
      expect(res.status).toBe(401);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('Cloudflare Access JWT', () => {
  const TEAM = 'team.cloudflareaccess.test';
  const AUD = 'aud-tag-0123';
  const accessEnv = () => ({
    ...env,
    ACCESS_TEAM_DOMAIN: TEAM,
    ACCESS_AUD: AUD,
    ACCESS_ROLES: 'ops:Ops.Person@firma.de; marketing:mk@firma.de',
  });
  let privateKey: CryptoKey;
  let otherKey: CryptoKey;
  let jwk: JWK;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    privateKey = pair.privateKey as CryptoKey;
    jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    otherKey = (await generateKeyPair('RS256')).privateKey as CryptoKey;
  });

  function stubJwks() {
    return vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (url === `https://${TEAM}/cdn-cgi/access/certs`)
        return new Response(JSON.stringify({ keys: [jwk] }), {
          headers: { 'content-type': 'application/json' },
        });
      return new Response('unexpected fetch', { status: 599 });
    });
  }

  function jwt(o: { email?: string; key?: CryptoKey; aud?: string; exp?: number | string } = {}) {
    return new SignJWT({ email: o.email ?? 'ops.person@firma.de' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(`https://${TEAM}`)
      .setAudience(o.aud ?? AUD)
      .setIssuedAt()
      .setExpirationTime(o.exp ?? '5m')
      .sign(o.key ?? privateKey);
  }

  const me = async (token: string) =>
    app.request('/api/admin/me', { headers: { 'cf-access-jwt-assertion': token } }, accessEnv());

  it('accepts a valid JWT and maps the email (case-insensitive) to its role', async () => {
    const fetchSpy = stubJwks();
    const res = await me(await jwt());
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ role: 'ops', id: 'ops.person@firma.de' });
    expect(fetchSpy).toHaveBeenCalled();
  });

  it('refuses a JWT signed by another key with 401', async () => {
    stubJwks();
    const res = await me(await jwt({ key: otherKey }));
    expect(res.status).toBe(401);
  });

  it('refuses an expired JWT with 401', async () => {
    stubJwks();
    const res = await me(await jwt({ exp: Math.floor(Date.now() / 1000) - 60 }));
    expect(res.status).toBe(401);
  });

  it('refuses a JWT for another audience with 401', async () => {
    stubJwks();
    const res = await me(await jwt({ aud: 'some-other-app' }));
    expect(res.status).toBe(401);
  });

  it('refuses a valid JWT whose email has no role with 403', async () => {
    stubJwks();
    const res = await me(await jwt({ email: 'stranger@firma.de' }));
    expect(res.status).toBe(403);
  });

  it('requires the CSRF header for an Access-authenticated mutation (Access rides on a cookie)', async () => {
    stubJwks();
    const token = await jwt();
    const erase = (headers: Record<string, string>) =>
      app.request(
        '/api/admin/leads/erase',
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'cf-access-jwt-assertion': token, ...headers },
          body: JSON.stringify({ email: 'niemand@beispiel.de' }),
        },
        accessEnv(),
      );
    expect((await erase({})).status).toBe(403);
    const { csrf } = (await (await me(token)).json()) as { csrf: string };
    expect((await erase({ 'x-csrf-token': csrf })).status).toBe(200);
  });

  it('ignores the header entirely while Access is not configured', async () => {
    const res = await SELF.fetch(`${ORIGIN}/api/admin/me`, {
      headers: { 'cf-access-jwt-assertion': 'anything' },
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ ok: false, error: 'Bitte melden Sie sich an.' });
  });
});

describe('GET /admin', () => {
  it('serves the admin shell: noindex, uncached, its own bundle, no cookie', async () => {
    const res = await SELF.fetch(`${ORIGIN}/admin`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toMatch(/<meta name="robots" content="noindex"\s*\/?>/);
    expect(html).toMatch(/<html lang="de"/);
    expect(html).toMatch(/<script type="module"[^>]+src="\/assets\/admin-[^"]+\.js"/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(res.headers.get('content-security-policy')).not.toContain("unsafe-inline' 'self");
    // No inline script apart from JSON data.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)(?![^>]*application\/(?:ld\+)?json)[^>]*>/);
  });

  it('is never referenced by the visitor page, which sets no cookie', async () => {
    const res = await SELF.fetch(`${ORIGIN}/`);
    expect(await res.text()).not.toContain('/assets/admin-');
    expect(res.headers.get('set-cookie')).toBeNull();
  });
});
