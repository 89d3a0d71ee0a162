/**
 * Ops routes for the bot defences (role `ops`; marketing gets 403):
 *
 *   GET /api/admin/abuse          per hour (last 24 h): registrations accepted, refused by
 *                                 reason, confirmation mails sent and paced; attack mode
 *   GET /api/admin/attack-mode    `{ ok, on, by, since }`
 *   PUT /api/admin/attack-mode    `{ on: boolean }` → the new state (audited)
 *
 * Counts come straight from D1 (worker/abuse/counters.ts), current within seconds.
 */
import { Hono } from 'hono';
import * as v from 'valibot';
import { readAttackMode, setAttackMode, threshold } from '../abuse/attack-mode';
import { hourlyCounts } from '../abuse/counters';
import { appendAudit } from '../audit-log';
import { limitBody } from '../body-limit';
import { refuse, requireRole, type AdminEnv } from '../auth';

const MSG = {
  badJson: 'Die Anfrage enthält kein gültiges JSON.',
  tooLarge: 'Die Anfrage ist zu groß.',
  on: 'Bitte geben Sie „on“ als true oder false an.',
} as const;

const AttackModeInput = v.strictObject({ on: v.boolean(MSG.on) }, 'Erlaubt ist nur das Feld „on“.');

const smallBody = limitBody({ maxSize: 1024, onError: (c) => refuse(c, 400, MSG.tooLarge) });

export const adminAbuseRoutes = new Hono<AdminEnv>()
  .get('/api/admin/abuse', requireRole('ops'), async (c) => {
    const now = Date.now();
    const [hours, mode] = await Promise.all([hourlyCounts(c.env.DB, now), readAttackMode(c.env.DB)]);
    return c.json({
      ok: true as const,
      hours,
      attackMode: { ...mode, threshold: threshold(c.env) },
      generatedAt: new Date(now).toISOString(),
    });
  })
  .get('/api/admin/attack-mode', requireRole('ops'), async (c) => {
    return c.json({ ok: true as const, ...(await readAttackMode(c.env.DB)) });
  })
  .put('/api/admin/attack-mode', requireRole('ops'), smallBody, async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return refuse(c, 400, MSG.badJson);
    }
    const parsed = v.safeParse(AttackModeInput, body);
    if (!parsed.success) return refuse(c, 400, parsed.issues[0].message);
    const who = c.get('identity');
    const state = { on: parsed.output.on, by: 'ops' as const, since: Date.now() };
    await setAttackMode(c.env.DB, state);
    await appendAudit(c.env.DB, {
      role: who.role,
      id: who.id,
      action: 'attack_mode.set',
      detail: { on: state.on },
    });
    return c.json({ ok: true as const, ...state });
  });
