/**
 * The admin door shared by ops and marketing:
 *
 *   GET    /admin, /admin/*        the admin shell (built admin.html, its own Solid bundle)
 *   POST   /api/admin/session      `{ token }` → session cookie (sign-in)
 *   DELETE /api/admin/session      sign-out (clears the cookie)
 *   GET    /api/admin/me           `{ role, id, csrf }` for whoever is signed in
 *
 * The shell holds no data: it is the sign-in form plus the app, which fetches everything
 * through role-checked `/api/admin/*` routes. So it is served to anyone, uncached and
 * marked noindex.
 */
import { Hono, type Context } from 'hono';
import { limitBody } from '../body-limit';
import * as v from 'valibot';
import { appendAudit } from '../audit-log';
import {
  accessEnabled,
  authenticate,
  AUTH_MESSAGES,
  clearSessionCookie,
  createSessionValue,
  csrfTokenFor,
  describeCaller,
  originAllowed,
  recordFailure,
  refuse,
  roleOfToken,
  setSessionCookie,
  takeAuthBudget,
  type AdminEnv,
  type AuthVars,
} from '../auth';
import { log } from '../log';

const SignIn = v.object({
  token: v.pipe(
    v.string('Bitte geben Sie Ihren Zugangsschlüssel ein.'),
    v.trim(),
    v.nonEmpty('Bitte geben Sie Ihren Zugangsschlüssel ein.'),
    v.maxLength(512, 'Der Zugangsschlüssel ist zu lang.'),
  ),
});

const MESSAGES = {
  badJson: 'Die Anfrage enthält kein gültiges JSON.',
  wrongToken: 'Der Zugangsschlüssel ist falsch.',
  tooLarge: 'Die Anfrage ist zu groß.',
  tooMany: 'Zu viele Anmeldeversuche. Bitte warten Sie eine Minute und versuchen Sie es dann erneut.',
} as const;

let adminShell: Promise<string> | undefined;

/** The built admin.html, once per isolate (every request in dev mode). */
export function loadAdminShell(assets: Fetcher, origin: string, reload = false): Promise<string> {
  if (!adminShell || reload) {
    adminShell = (async () => {
      let res = await assets.fetch(new Request(new URL('/admin.html', origin)));
      if (res.status >= 300 && res.status < 400)
        res = await assets.fetch(new Request(new URL('/admin', origin)));
      if (!res.ok) throw new Error(`admin.html not found in assets (${res.status}); run npm run build`);
      return res.text();
    })();
    adminShell.catch(() => (adminShell = undefined));
  }
  return adminShell;
}

async function shell(c: Context<AdminEnv>) {
  const html = await loadAdminShell(
    c.env.ASSETS,
    new URL(c.req.url).origin,
    c.env.ENVIRONMENT === 'development',
  );
  c.header('Cache-Control', 'no-store');
  c.header('X-Robots-Tag', 'noindex, nofollow');
  return c.html(html);
}

export const adminRoutes = new Hono<AdminEnv>()
  .get('/admin', shell)
  .get('/admin/*', shell)
  .post(
    '/api/admin/session',
    limitBody({ maxSize: 2048, onError: (c) => refuse(c, 400, MESSAGES.tooLarge) }),
    async (c) => {
      if (!originAllowed(c)) return refuse(c, 403, AUTH_MESSAGES.origin);
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        return refuse(c, 400, MESSAGES.badJson);
      }
      const parsed = v.safeParse(SignIn, body);
      if (!parsed.success) return refuse(c, 400, parsed.issues[0].message);
      const envVars = c.env as unknown as AuthVars;
      if (!envVars.SESSION_SECRET || envVars.SESSION_SECRET.length < 16)
        return refuse(c, 500, AUTH_MESSAGES.notConfigured);
      // With Access on, people sign in there; the shared tokens open no session.
      if (accessEnabled(envVars)) return refuse(c, 403, AUTH_MESSAGES.accessOnly);
      // Every attempt counts (10 a minute per IP): guessing stays slow, the audit log small.
      if (!(await takeAuthBudget(c))) {
        log.warn('auth.sign_in_throttled');
        c.header('Retry-After', '60');
        return refuse(c, 429, MESSAGES.tooMany);
      }
      const role = await roleOfToken(envVars, parsed.output.token);
      if (!role) {
        log.warn('auth.sign_in_failed');
        await appendAudit(c.env.DB, {
          role: 'none',
          id: 'anonymous',
          action: 'session.failed',
          detail: { reason: 'wrong_token' },
        });
        return refuse(c, 401, MESSAGES.wrongToken);
      }
      const value = await createSessionValue(envVars, role);
      setSessionCookie(c, value);
      const nonce = value.split('.')[3];
      await appendAudit(c.env.DB, { role, id: `token:${role}`, action: 'session.created' });
      c.header('Cache-Control', 'no-store');
      return c.json({
        ok: true as const,
        role,
        id: `token:${role}`,
        csrf: await csrfTokenFor(envVars, `session:${nonce}`),
      });
    },
  )
  .delete('/api/admin/session', async (c) => {
    // Sign-out needs no credential: clearing one's own cookie can harm no one.
    if (!originAllowed(c)) return refuse(c, 403, AUTH_MESSAGES.origin);
    const who = await authenticate(c);
    if ('ok' in who)
      await appendAudit(c.env.DB, {
        role: who.roles[0],
        id: who.id,
        action: 'session.ended',
        detail: { via: who.via },
      });
    clearSessionCookie(c);
    c.header('Cache-Control', 'no-store');
    return c.json({ ok: true as const });
  })
  .get('/api/admin/me', async (c) => {
    const who = await describeCaller(c);
    if (!('ok' in who)) return (await recordFailure(c, who)) ?? refuse(c, who.status, who.message);
    c.header('Cache-Control', 'no-store');
    return c.json({ ok: true as const, role: who.role, roles: who.roles, id: who.id, csrf: who.csrf });
  });
