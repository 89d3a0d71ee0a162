/**
 * Admin sign-in shared by the ops and marketing areas: who is calling, with which role.
 *
 * Three ways in, checked in this order (the first one present decides; a wrong one is
 * never silently skipped in favour of the next):
 * 1. `Authorization: Bearer <OPS_TOKEN | MARKETING_TOKEN>` — API clients and the CLI.
 *    Compared in constant time. Exempt from CSRF checks (a browser never adds it by itself).
 * 2. Cloudflare Access: `Cf-Access-Jwt-Assertion`, verified against the team's published
 *    keys (`https://<ACCESS_TEAM_DOMAIN>/cdn-cgi/access/certs`), audience `ACCESS_AUD`,
 *    issuer and expiry; the email claim maps to a role through `ACCESS_ROLES`
 *    (`ops:a@x.de,b@x.de;marketing:c@x.de`). Off while ACCESS_TEAM_DOMAIN or ACCESS_AUD
 *    is empty.
 * 3. The session cookie set by `POST /api/admin/session` after signing in with a token:
 *    HMAC-signed with SESSION_SECRET, 8 hours, bound to the current token (rotating a
 *    token ends its sessions).
 *
 * Mutations (anything but GET/HEAD/OPTIONS) authenticated by cookie or Access need the
 * `X-CSRF-Token` header from `GET /api/admin/me` and, when the browser sends one, a
 * same-origin `Origin`. See docs/decisions/020-admin-auth.md.
 *
 * With Access configured, Access is the only door: shared tokens and token sessions are
 * refused (people sign in through Access, scripts use Access service tokens). Every
 * presented but invalid credential, on every admin route, spends the client's auth budget;
 * once it is spent the answer is 429 with Retry-After, and nothing more is audited.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { createRemoteJWKSet, customFetch, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { appendAudit } from './audit-log';
import { errorMessage, log } from './log';
import { clientIp } from './request-context';

export type Role = 'ops' | 'marketing';
export const ROLES: readonly Role[] = ['ops', 'marketing'];

export interface Identity {
  role: Role;
  /** Email from Access, or `token:<role>` for a token or a session started with one. */
  id: string;
  via: 'access' | 'token' | 'session';
}

/** The variables auth reads; declared here so an unset optional var is `undefined`, not a type error. */
export interface AuthVars {
  OPS_TOKEN?: string;
  MARKETING_TOKEN?: string;
  SESSION_SECRET?: string;
  ACCESS_TEAM_DOMAIN?: string;
  ACCESS_AUD?: string;
  ACCESS_ROLES?: string;
}

export type AdminEnv = { Bindings: Env; Variables: { identity: Identity } };

export const SESSION_COOKIE = '__Host-admin_session';
export const SESSION_TTL_S = 8 * 3600;
export const CSRF_HEADER = 'X-CSRF-Token';
/** Seconds a client waits once its auth budget (ADMIN_AUTH_LIMITER, per minute) is spent. */
export const AUTH_RETRY_AFTER_S = 60;

/** German messages shown in the admin UI and returned by the API. */
export const AUTH_MESSAGES = {
  missing: 'Bitte melden Sie sich an.',
  invalid: 'Die Anmeldung ist ungültig oder abgelaufen. Bitte melden Sie sich erneut an.',
  forbidden: 'Für diese Aktion fehlt Ihnen die Berechtigung.',
  csrf: 'Die Anfrage wurde abgelehnt (Schutz vor Cross-Site-Request-Forgery). Bitte laden Sie die Seite neu.',
  origin: 'Die Anfrage stammt nicht von dieser Website und wurde abgelehnt.',
  notConfigured: 'Die Anmeldung ist auf diesem Server nicht eingerichtet.',
  accessOnly:
    'Die Anmeldung mit Schlüssel ist abgeschaltet: Bitte melden Sie sich über Cloudflare Access an (Skripte verwenden ein Access-Service-Token).',
  tooMany: 'Zu viele ungültige Anmeldeversuche. Bitte warten Sie eine Minute.',
} as const;

const enc = new TextEncoder();

function vars(c: Context<AdminEnv>): AuthVars {
  return c.env as unknown as AuthVars;
}

function b64url(bytes: ArrayBuffer | Uint8Array): string {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return btoa(String.fromCharCode(...u8))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

/**
 * Constant-time string equality: both sides are hashed first, so neither the length nor
 * the position of the first difference shows in the time taken.
 */
export async function timingSafeEqual(a: string, b: string): Promise<boolean> {
  const [da, db] = await Promise.all([
    crypto.subtle.digest('SHA-256', enc.encode(a)),
    crypto.subtle.digest('SHA-256', enc.encode(b)),
  ]);
  const x = new Uint8Array(da);
  const y = new Uint8Array(db);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0 && a.length === b.length;
}

async function hmac(secret: string, data: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    'raw',
    enc.encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  return b64url(await crypto.subtle.sign('HMAC', key, enc.encode(data)));
}

/** Secrets shorter than this are treated as unset: a guessable token is worse than none. */
const MIN_SECRET_LENGTH = 16;

function tokenFor(v: AuthVars, role: Role): string | undefined {
  const t = role === 'ops' ? v.OPS_TOKEN : v.MARKETING_TOKEN;
  return t && t.length >= MIN_SECRET_LENGTH ? t : undefined;
}

function sessionSecret(v: AuthVars): string | undefined {
  return v.SESSION_SECRET && v.SESSION_SECRET.length >= MIN_SECRET_LENGTH ? v.SESSION_SECRET : undefined;
}

/** Which role a presented token belongs to, or null. Every role is compared, always. */
export async function roleOfToken(v: AuthVars, presented: string): Promise<Role | null> {
  let found: Role | null = null;
  for (const role of ROLES) {
    const expected = tokenFor(v, role);
    // Compare against a dummy when unset so the time taken does not reveal which are set.
    const match = await timingSafeEqual(presented, expected ?? '\u0000unset');
    if (match && expected) found = role;
  }
  return found;
}

// --- sessions ---

/** Payload: `v1.<role>.<expiry s>.<nonce>.<token fingerprint>`, then `.<HMAC>`. */
async function tokenFingerprint(secret: string, token: string): Promise<string> {
  return (await hmac(secret, `fp:${token}`)).slice(0, 16);
}

export async function createSessionValue(v: AuthVars, role: Role, nowS = Math.floor(Date.now() / 1000)) {
  const secret = sessionSecret(v);
  const token = tokenFor(v, role);
  if (!secret || !token) throw new Error('SESSION_SECRET or the role token is not configured');
  const nonce = b64url(crypto.getRandomValues(new Uint8Array(12)));
  const payload = `v1.${role}.${nowS + SESSION_TTL_S}.${nonce}.${await tokenFingerprint(secret, token)}`;
  return `${payload}.${await hmac(secret, payload)}`;
}

interface Session {
  role: Role;
  nonce: string;
}

export async function verifySessionValue(
  v: AuthVars,
  value: string,
  nowS = Math.floor(Date.now() / 1000),
): Promise<Session | null> {
  const secret = sessionSecret(v);
  if (!secret || value.length > 300) return null;
  const parts = value.split('.');
  if (parts.length !== 6 || parts[0] !== 'v1') return null;
  const [, role, exp, nonce, fp, mac] = parts;
  if (!(await timingSafeEqual(mac, await hmac(secret, parts.slice(0, 5).join('.'))))) return null;
  if (role !== 'ops' && role !== 'marketing') return null;
  // A plain integer, in the future, and never further than one session lifetime away.
  if (!/^\d{1,12}$/.test(exp)) return null;
  const expS = Number(exp);
  if (!(expS > nowS) || expS > nowS + SESSION_TTL_S) return null;
  const token = tokenFor(v, role);
  if (!token || !(await timingSafeEqual(fp, await tokenFingerprint(secret, token)))) return null;
  return { role, nonce };
}

/** The CSRF value for an identity: derived, so nothing needs storing. */
export async function csrfTokenFor(v: AuthVars, basis: string): Promise<string> {
  const secret = sessionSecret(v);
  if (!secret) return '';
  return hmac(secret, `csrf:${basis}`);
}

/** Sets the session cookie (HttpOnly, Secure, SameSite=Strict, Path=/, 8 h). */
export function setSessionCookie(c: Context, value: string) {
  setCookie(c, SESSION_COOKIE, value, {
    httpOnly: true,
    secure: true,
    sameSite: 'Strict',
    path: '/',
    maxAge: SESSION_TTL_S,
  });
}

export function clearSessionCookie(c: Context) {
  deleteCookie(c, SESSION_COOKIE, { path: '/', secure: true, httpOnly: true, sameSite: 'Strict' });
}

// --- Cloudflare Access ---

const jwksCache = new Map<string, JWTVerifyGetKey>();
/** A failed key fetch is remembered this long, so an outage at Access costs one fetch, not one per request. */
const KEY_FAILURE_TTL_MS = 30_000;
/** The key fetch is cut off after this long. */
const KEY_FETCH_TIMEOUT_MS = 2_000;
const keyFailures = new Map<string, number>();

/**
 * The key fetch, cut off after KEY_FETCH_TIMEOUT_MS by a race as well as by its signal:
 * the bound holds even where a fetch ignores the signal.
 */
async function boundedKeyFetch(url: string, init: RequestInit): Promise<Response> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DOMException('The key fetch timed out', 'TimeoutError')),
      KEY_FETCH_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([
      fetch(url, { ...init, signal: AbortSignal.timeout(KEY_FETCH_TIMEOUT_MS) }),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether Access is configured (then it is the only way in). */
export function accessEnabled(v: AuthVars): boolean {
  return accessConfig(v) !== null;
}

function accessConfig(v: AuthVars): { team: string; aud: string } | null {
  const team = v.ACCESS_TEAM_DOMAIN?.trim()
    .replace(/^https?:\/\//, '')
    .replace(/\/+$/, '');
  const aud = v.ACCESS_AUD?.trim();
  return team && aud ? { team, aud } : null;
}

/** `ops:a@x.de,b@x.de;marketing:c@x.de` → email → roles (in the order listed). */
export function parseAccessRoles(spec: string | undefined): Map<string, Role[]> {
  const out = new Map<string, Role[]>();
  for (const group of (spec ?? '').split(';')) {
    const [rolePart, list] = group.split(':', 2);
    const role = rolePart?.trim() as Role;
    if (!ROLES.includes(role) || !list) continue;
    for (const raw of list.split(',')) {
      const email = raw.trim().toLowerCase();
      if (!email) continue;
      const roles = out.get(email) ?? [];
      if (!roles.includes(role)) roles.push(role);
      out.set(email, roles);
    }
  }
  return out;
}

/**
 * Verified identity from an Access JWT, or null (bad signature, audience, issuer, expiry,
 * missing `exp` or `iat`). People carry `email`; Access service tokens (scripts) carry
 * `common_name`, the token's client id, which ACCESS_ROLES can list like an address.
 */
export async function verifyAccessJwt(v: AuthVars, jwt: string, nowMs = Date.now()): Promise<string | null> {
  const cfg = accessConfig(v);
  if (!cfg) return null;
  const failedAt = keyFailures.get(cfg.team);
  if (failedAt !== undefined && nowMs - failedAt < KEY_FAILURE_TTL_MS) {
    log.warn('auth.access_keys_unavailable', { cached: true });
    return null;
  }
  let jwks = jwksCache.get(cfg.team);
  if (!jwks) {
    jwks = createRemoteJWKSet(new URL(`https://${cfg.team}/cdn-cgi/access/certs`), {
      timeoutDuration: KEY_FETCH_TIMEOUT_MS,
      [customFetch]: boundedKeyFetch,
    });
    jwksCache.set(cfg.team, jwks);
  }
  try {
    const { payload } = await jwtVerify(jwt, jwks, {
      audience: cfg.aud,
      issuer: `https://${cfg.team}`,
      algorithms: ['RS256'],
      requiredClaims: ['exp', 'iat'],
    });
    const who = typeof payload.email === 'string' ? payload.email : payload.common_name;
    return typeof who === 'string' && who ? who.toLowerCase() : null;
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'invalid';
    // The keys could not be fetched (timeout, network, bad JSON): not the caller's fault.
    if (code === 'ERR_JWKS_TIMEOUT' || code === 'ERR_JOSE_GENERIC' || code === 'ERR_JWKS_INVALID')
      keyFailures.set(cfg.team, nowMs);
    log.warn('auth.access_jwt_rejected', { reason: code });
    return null;
  }
}

/** For tests: forget cached key sets (each test file may bring its own keys). */
export function resetAccessKeyCache() {
  jwksCache.clear();
  keyFailures.clear();
}

// --- the middleware ---

type Failure = { status: 401 | 403; message: string; reason: string; role?: Role; id?: string };

/** Reasons that mean "a credential was presented and it is not valid": they spend the budget. */
const INVALID_CREDENTIAL = new Set(['bad_token', 'bad_access_jwt', 'bad_session', 'token_with_access']);

/**
 * Who is calling, by the first credential present. `null` result = no credential at all.
 * Returns the roles the caller holds (an Access user may hold both).
 */
export async function authenticate(
  c: Context<AdminEnv>,
): Promise<{ ok: true; id: string; via: Identity['via']; roles: Role[]; csrfBasis: string } | Failure> {
  const v = vars(c);
  const authz = c.req.header('authorization');
  const access = accessEnabled(v);
  // With Access on, shared tokens and their sessions are no way in (decision 020).
  if (
    access &&
    (authz !== undefined ||
      (getCookie(c, SESSION_COOKIE) !== undefined && !c.req.header('cf-access-jwt-assertion')))
  )
    return { status: 401, message: AUTH_MESSAGES.accessOnly, reason: 'token_with_access' };
  if (authz !== undefined) {
    const m = /^Bearer\s+(\S{1,512})\s*$/i.exec(authz);
    const role = m ? await roleOfToken(v, m[1]) : null;
    if (!role) return { status: 401, message: AUTH_MESSAGES.invalid, reason: 'bad_token' };
    return { ok: true, id: `token:${role}`, via: 'token', roles: [role], csrfBasis: `token:${role}` };
  }
  const jwt = c.req.header('cf-access-jwt-assertion');
  if (jwt !== undefined && accessConfig(v)) {
    const email = await verifyAccessJwt(v, jwt);
    if (!email) return { status: 401, message: AUTH_MESSAGES.invalid, reason: 'bad_access_jwt' };
    const roles = parseAccessRoles(v.ACCESS_ROLES).get(email) ?? [];
    if (!roles.length)
      return { status: 403, message: AUTH_MESSAGES.forbidden, reason: 'access_no_role', id: email };
    return { ok: true, id: email, via: 'access', roles, csrfBasis: `access:${email}` };
  }
  const cookie = access ? undefined : getCookie(c, SESSION_COOKIE);
  if (cookie !== undefined) {
    const session = await verifySessionValue(v, cookie);
    if (!session) return { status: 401, message: AUTH_MESSAGES.invalid, reason: 'bad_session' };
    return {
      ok: true,
      id: `token:${session.role}`,
      via: 'session',
      roles: [session.role],
      csrfBasis: `session:${session.nonce}`,
    };
  }
  return { status: 401, message: AUTH_MESSAGES.missing, reason: 'missing' };
}

/** A JSON refusal with `Cache-Control: no-store`. */
export function refuse(
  c: Context,
  status: 400 | 401 | 403 | 409 | 429 | 500 | 503,
  message: string,
): Response {
  c.header('Cache-Control', 'no-store');
  return c.json({ ok: false as const, error: message }, status);
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Same origin as the request, when the browser says where it comes from. */
export function originAllowed(c: Context): boolean {
  const origin = c.req.header('origin');
  if (!origin) return true;
  return origin === new URL(c.req.url).origin;
}

/**
 * One unit of the per-IP budget for sign-in attempts and audited refusals
 * (`ADMIN_AUTH_LIMITER`, 10 a minute; off when ENVIRONMENT is `development`). Fails open:
 * a broken limiter must not lock ops out.
 * @returns false when the client is over its budget.
 */
export async function takeAuthBudget(c: Context): Promise<boolean> {
  const env = c.env as { ADMIN_AUTH_LIMITER?: RateLimit; ENVIRONMENT?: string };
  const limiter = env.ADMIN_AUTH_LIMITER;
  // Off in local development (npm start, e2e): every browser there shares one address.
  if (!limiter || env.ENVIRONMENT === 'development') return true;
  try {
    return (await limiter.limit({ key: clientIp(c) })).success;
  } catch (error) {
    log.error('auth.ratelimit_failed', { message: errorMessage(error) });
    return true;
  }
}

/**
 * Logs and audits a refused admin request. A presented but invalid credential spends the
 * client's auth budget; once that is spent the caller gets 429 (returned here) and nothing
 * more is audited, so guessing stays slow and cannot flood the audit log.
 * @returns a 429 response when the budget is spent, otherwise undefined.
 */
export async function recordFailure(c: Context<AdminEnv>, f: Failure): Promise<Response | undefined> {
  const path = new URL(c.req.url).pathname;
  log.warn('auth.refused', { path, status: f.status, reason: f.reason });
  // An unauthenticated visit (no credential) is only logged: it is not an action, and
  // writing for every anonymous request would hand out free writes.
  if (f.reason === 'missing') return undefined;
  if (!(await takeAuthBudget(c))) {
    log.warn('auth.refused_unaudited', { path, reason: f.reason });
    if (INVALID_CREDENTIAL.has(f.reason)) {
      c.header('Retry-After', String(AUTH_RETRY_AFTER_S));
      return refuse(c, 429, AUTH_MESSAGES.tooMany);
    }
    return undefined;
  }
  await appendAudit(c.env.DB, {
    role: f.role ?? 'none',
    id: f.id ?? 'anonymous',
    action: 'auth.failed',
    detail: { reason: f.reason, path, method: c.req.method, status: f.status },
  });
  return undefined;
}

/**
 * Lets the request through only for one of `roles`; sets `c.get('identity')`. Answers
 * 401 without or with an invalid credential, 403 for a valid one with the wrong role, and
 * 403 for a cookie/Access mutation without the CSRF header or from another origin.
 */
export function requireRole(...roles: Role[]): MiddlewareHandler<AdminEnv> {
  return async (c, next) => {
    c.header('Cache-Control', 'no-store');
    const who = await authenticate(c);
    if (!('ok' in who)) return (await recordFailure(c, who)) ?? refuse(c, who.status, who.message);
    const role = who.roles.find((r) => roles.includes(r));
    if (!role) {
      const f: Failure = {
        status: 403,
        message: AUTH_MESSAGES.forbidden,
        reason: 'wrong_role',
        role: who.roles[0],
        id: who.id,
      };
      return (await recordFailure(c, f)) ?? refuse(c, 403, f.message);
    }
    if (who.via !== 'token' && !SAFE_METHODS.has(c.req.method)) {
      const expected = await csrfTokenFor(vars(c), who.csrfBasis);
      const sent = c.req.header(CSRF_HEADER) ?? '';
      const csrfOk = expected !== '' && (await timingSafeEqual(sent, expected));
      if (!originAllowed(c) || !csrfOk) {
        const f: Failure = {
          status: 403,
          message: originAllowed(c) ? AUTH_MESSAGES.csrf : AUTH_MESSAGES.origin,
          reason: originAllowed(c) ? 'csrf' : 'origin',
          role,
          id: who.id,
        };
        return (await recordFailure(c, f)) ?? refuse(c, 403, f.message);
      }
    }
    c.set('identity', { role, id: who.id, via: who.via });
    await next();
    c.header('Cache-Control', 'no-store');
  };
}

/** Any signed-in admin, with the CSRF value the browser must echo on mutations. */
export async function describeCaller(c: Context<AdminEnv>) {
  const who = await authenticate(c);
  if (!('ok' in who)) return who;
  return {
    ok: true as const,
    role: who.roles[0],
    roles: who.roles,
    id: who.id,
    via: who.via,
    csrf: await csrfTokenFor(vars(c), who.csrfBasis),
  };
}
