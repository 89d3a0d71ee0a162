/**
 * Security of every route, enumerated from the app itself (`app.routes`), so a route
 * added later is covered without touching this file (issue 6, "Security").
 *
 * - Every response of every route (and of static files) carries the security headers,
 *   and its CSP allows no inline or eval'd script.
 * - Every `/api/admin/*` route (sign-in/out and `me` aside) answers 401 without
 *   credentials, with a wrong token, a forged or tampered session cookie, or a forged
 *   Access JWT; 403 for the other role and for a cookie mutation without CSRF proof;
 *   and nothing in KV changes (audit entries of the refusal aside).
 * - No admin response is cacheable.
 */
import { env, SELF } from 'cloudflare:test';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { app } from '../../worker/app';
import {
  AUTH_MESSAGES,
  createSessionValue,
  resetAccessKeyCache,
  SESSION_COOKIE,
  type AuthVars,
} from '../../worker/auth';
import { storeSnapshot, uniqueIp } from './helpers';

const ORIGIN = 'https://webinar.test';

afterEach(() => {
  vi.restoreAllMocks();
  resetAccessKeyCache();
});

interface RouteCase {
  method: string;
  /** The route as declared, e.g. `/media/:hash`. */
  pattern: string;
  /** A concrete path that the pattern matches. */
  path: string;
}

/** Every (method, path) the app declares; middleware (`ALL /*`) left out. */
function declaredRoutes(): RouteCase[] {
  const seen = new Map<string, RouteCase>();
  for (const r of app.routes) {
    if (r.method === 'ALL') continue;
    const path = r.path
      .replace(/:hash(\{[^}]*\})?/g, '0'.repeat(64))
      .replace(/:\w+(\{[^}]*\})?/g, 'x')
      .replace(/\*/g, 'beliebig');
    seen.set(`${r.method} ${r.path}`, { method: r.method, pattern: r.path, path });
  }
  return [...seen.values()];
}

const ROUTES = declaredRoutes();
/** Admin API routes that anyone may call: sign-in, sign-out, and "who am I". */
const OPEN_ADMIN_API = new Set(['POST /api/admin/session', 'DELETE /api/admin/session', 'GET /api/admin/me']);
const PROTECTED = ROUTES.filter(
  (r) => r.pattern.startsWith('/api/admin/') && !OPEN_ADMIN_API.has(`${r.method} ${r.pattern}`),
);
const isAdmin = (path: string) =>
  path === '/admin' || path.startsWith('/admin/') || path.startsWith('/api/admin/');
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

function expectSecurityHeaders(res: Response, what: string) {
  const h = res.headers;
  expect(h.get('x-content-type-options'), what).toBe('nosniff');
  expect(h.get('strict-transport-security'), what).toMatch(/max-age=\d{7,}/);
  expect(h.get('referrer-policy'), what).toBeTruthy();
  expect(h.get('cross-origin-resource-policy'), what).toBe('same-origin');
  const csp = h.get('content-security-policy');
  expect(csp, what).toBeTruthy();
  const directives = new Map(
    csp!
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((parts) => parts[0])
      .map(([name, ...values]) => [name.toLowerCase(), values] as const),
  );
  // script-src falls back to default-src; either way no inline, no eval, no wildcard.
  const scripts = directives.get('script-src') ?? directives.get('default-src');
  expect(scripts, `${what}: script-src or default-src`).toBeDefined();
  for (const bad of ["'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", '*', 'data:', 'http:', 'https:'])
    expect(scripts, `${what}: CSP scripts allow ${bad}`).not.toContain(bad);
  expect(directives.get('frame-ancestors'), `${what}: frame-ancestors`).toBeDefined();
  expect(directives.get('frame-ancestors'), what).not.toContain('*');
}

function request(r: RouteCase, headers: Record<string, string> = {}, body?: string) {
  const init: RequestInit = { method: r.method, headers: { 'cf-connecting-ip': uniqueIp(), ...headers } };
  if (!SAFE.has(r.method)) {
    init.body = body ?? '{}';
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  return init;
}

async function expectRefused(res: Response, status: 401 | 403, what: string) {
  expect(res.status, what).toBe(status);
  expect(res.headers.get('cache-control'), what).toBe('no-store');
  const body = (await res.json()) as { ok: boolean; error: string };
  expect(body.ok, what).toBe(false);
  expect(Object.values(AUTH_MESSAGES) as string[], what).toContain(body.error);
}

describe('every route', () => {
  it('is enumerated from the app (visitor pages, API, admin)', () => {
    const patterns = ROUTES.map((r) => `${r.method} ${r.pattern}`);
    expect(patterns).toContain('GET /');
    expect(patterns).toContain('POST /api/register');
    expect(patterns).toContain('GET /admin');
    expect(PROTECTED.length).toBeGreaterThan(0);
  });

  it.each(ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))(
    '%s carries the security headers and a CSP without inline or eval script, without credentials',
    async (label, r) => {
      const res = await SELF.fetch(ORIGIN + r.path, { ...request(r), redirect: 'manual' });
      expect(res.status, label).toBeLessThan(500);
      expectSecurityHeaders(res, label);
      if (isAdmin(r.path)) expect(res.headers.get('cache-control'), label).toBe('no-store');
      await res.arrayBuffer();
    },
  );

  it('static files and the 404 page carry them too', async () => {
    const page = await (await SELF.fetch(ORIGIN + '/')).text();
    // Script tags and the island loader's src.
    const scripts = [...page.matchAll(/(?:<script[^>]+src=|\.src=)"([^"]+)"/g)].map((m) => m[1]);
    expect(scripts.length).toBeGreaterThan(0);
    for (const path of ['/robots.txt', '/favicon.svg', ...scripts, '/gibt-es-nicht', '/api/gibt-es-nicht']) {
      const res = await SELF.fetch(ORIGIN + path);
      expectSecurityHeaders(res, path);
      await res.arrayBuffer();
    }
  });
});

describe('every protected /api/admin/* route', () => {
  const vars = env as unknown as AuthVars;
  const TEAM = 'team.cloudflareaccess.test';
  const AUD = 'aud-security-test';
  let jwk: JWK;
  let attackerKey: CryptoKey;
  const accessEnv = () => ({
    ...env,
    ACCESS_TEAM_DOMAIN: TEAM,
    ACCESS_AUD: AUD,
    ACCESS_ROLES: 'ops:ops.person@firma.de;marketing:mk.person@firma.de',
  });

  beforeAll(async () => {
    const real = await generateKeyPair('RS256', { extractable: true });
    jwk = { ...(await exportJWK(real.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    attackerKey = (await generateKeyPair('RS256')).privateKey as CryptoKey;
  });

  function stubJwks() {
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (url === `https://${TEAM}/cdn-cgi/access/certs`)
        return new Response(JSON.stringify({ keys: [jwk] }), {
          headers: { 'content-type': 'application/json' },
        });
      return new Response('unexpected fetch', { status: 599 });
    });
  }

  /** Credentials an attacker can make without knowing any secret. */
  async function forgeries(): Promise<[string, Record<string, string>][]> {
    const nowS = Math.floor(Date.now() / 1000);
    const otherSecret = { ...vars, SESSION_SECRET: 'attacker-session-secret-0123456789' };
    const realMarketing = await createSessionValue(vars, 'marketing');
    const cookie = (v: string) => ({ cookie: `${SESSION_COOKIE}=${v}` });
    const jwt = (email: string, key: CryptoKey, aud = AUD) =>
      new SignJWT({ email })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuer(`https://${TEAM}`)
        .setAudience(aud)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(key);
    const b64 = (o: unknown) =>
      btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({
      email: 'ops.person@firma.de',
      aud: AUD,
      iss: `https://${TEAM}`,
      exp: nowS + 300,
    })}.`;
    return [
      ['no credentials', {}],
      ['a wrong bearer token', { authorization: `Bearer wrong-${crypto.randomUUID()}` }],
      ['an empty bearer token', { authorization: 'Bearer ' }],
      ['a garbage session cookie', cookie('v1.ops.9999999999.nonce.fp.mac')],
      ['a session signed with another secret', cookie(await createSessionValue(otherSecret, 'ops'))],
      [
        'a marketing session with its role changed to ops',
        cookie(realMarketing.replace('.marketing.', '.ops.')),
      ],
      [
        'a marketing session with its expiry pushed out',
        cookie(realMarketing.replace(/\.\d+\./, `.${nowS + 9e8}.`)),
      ],
      ['an expired session', cookie(await createSessionValue(vars, 'ops', nowS - 9 * 3600))],
      [
        'an Access JWT signed by another key',
        { 'cf-access-jwt-assertion': await jwt('ops.person@firma.de', attackerKey) },
      ],
      ['an unsigned Access JWT (alg none)', { 'cf-access-jwt-assertion': unsigned }],
    ];
  }

  it.each(PROTECTED.map((r) => [`${r.method} ${r.path}`, r] as const))(
    '%s: 401 and nothing done without valid credentials',
    async (label, r) => {
      stubJwks();
      const before = await storeSnapshot();
      for (const [how, headers] of await forgeries()) {
        const res = await app.request(r.path, request(r, { origin: ORIGIN, ...headers }), accessEnv());
        await expectRefused(res, 401, `${label} with ${how}`);
        expectSecurityHeaders(res, `${label} with ${how}`);
      }
      expect(await storeSnapshot(), `${label}: KV changed`).toBe(before);
    },
  );

  it.each(PROTECTED.map((r) => [`${r.method} ${r.path}`, r] as const))(
    '%s: one role only, 403 and nothing done for the other, 403 for a cookie mutation without CSRF',
    async (label, r) => {
      const outcome: Record<string, number> = {};
      for (const [role, token] of [
        ['ops', env.OPS_TOKEN],
        ['marketing', env.MARKETING_TOKEN],
      ] as const) {
        const before = await storeSnapshot();
        // An invalid body: the right role gets a 4xx from validation, never a change.
        const res = await app.request(r.path, request(r, { authorization: `Bearer ${token}` }, '{'), env);
        outcome[role] = res.status;
        expect(res.headers.get('cache-control'), `${label} as ${role}`).toBe('no-store');
        if (res.status === 403) {
          await expectRefused(res, 403, `${label} as ${role}`);
          expect(await storeSnapshot(), `${label}: KV changed by a refused ${role}`).toBe(before);
        } else await res.arrayBuffer();
      }
      // Least privilege: exactly one role passes the door.
      const allowed = Object.entries(outcome).filter(([, s]) => s !== 403 && s !== 401);
      expect(allowed.length, `${label}: ${JSON.stringify(outcome)}`).toBe(1);

      if (!SAFE.has(r.method)) {
        const role = allowed[0][0] as 'ops' | 'marketing';
        const cookie = `${SESSION_COOKIE}=${await createSessionValue(env as unknown as AuthVars, role)}`;
        const before = await storeSnapshot();
        for (const [how, headers] of [
          ['no CSRF header', { cookie, origin: ORIGIN }],
          ['a wrong CSRF header', { cookie, origin: ORIGIN, 'x-csrf-token': 'forged' }],
          ['another origin', { cookie, origin: 'https://evil.example', 'x-csrf-token': 'forged' }],
        ] as const) {
          const res = await app.request(r.path, request(r, headers), env);
          await expectRefused(res, 403, `${label} with ${how}`);
        }
        expect(await storeSnapshot(), `${label}: KV changed by a CSRF attempt`).toBe(before);
      }
    },
  );
});
