/**
 * GET /api/register/challenge: a fresh ALTCHA challenge for the enhanced form (the
 * protocol's JSON, never cached). Limited per client (CHALLENGE_LIMITER, three times the
 * registration limit), and dearer while attack mode is on. See worker/abuse/challenge.ts.
 */
import { Hono } from 'hono';
import { attackMode } from '../abuse/attack-mode';
import { maxNumberOf, newChallenge } from '../abuse/challenge';
import { count } from '../abuse/counters';
import { errorMessage, log } from '../log';
import { clientIp, clientKey } from '../request-context';

const TOO_MANY = 'Zu viele Anfragen in kurzer Zeit. Bitte warten Sie eine Minute.';

export const challengeRoutes = new Hono<{ Bindings: Env }>().get('/api/register/challenge', async (c) => {
  c.header('Cache-Control', 'no-store');
  try {
    const { success } = await c.env.CHALLENGE_LIMITER.limit({ key: clientKey(clientIp(c)) });
    if (!success) {
      const counted = count(c.env.DB, 'refused:rate_limit');
      try {
        c.executionCtx.waitUntil(counted);
      } catch {
        await counted;
      }
      c.header('Retry-After', '60');
      return c.json({ ok: false as const, errors: { form: TOO_MANY } }, 429);
    }
  } catch (error) {
    log.error('challenge.ratelimit_failed', { message: errorMessage(error) });
  }
  const { on } = await attackMode(c.env.DB);
  return c.json(await newChallenge(c.env.LEAD_KEY_SECRET, maxNumberOf(c.env, on)));
});
