/**
 * The one-time move of a KV-era deployment into D1 (role `ops` only), driven by
 * `npm run migrate:kv-to-d1` (scripts/migrate-kv-to-d1.ts); see
 * docs/decisions/065-kv-to-d1-migration.md.
 *
 *   POST /api/admin/migrate/kv-to-d1  { step?: 'copy' | 'delete', cursor? }
 *        → { ok, done, cursor?, phase, counts | deleted, kept?, pointer? }
 *        one bounded step; call again with `cursor` until `done`. `delete` is refused
 *        (409) until a copy has run to its end.
 *   GET  /api/admin/migrate/kv-to-d1  → { ok, copied, rows: { table: count } } for the count check
 */
import { Hono } from 'hono';
import * as v from 'valibot';
import { appendAudit } from '../audit-log';
import { refuse, requireRole, type AdminEnv } from '../auth';
import { limitBody } from '../body-limit';
import { errorMessage, log } from '../log';
import { COPIED_MARKER, copyStep, decodeCursor, deleteStep, NotCopiedError } from '../migrate/kv-to-d1';

const MSG = {
  badJson: 'Die Anfrage enthält kein gültiges JSON.',
  tooLarge: 'Die Anfrage ist zu groß.',
  step: 'Unbekannter Schritt. Erlaubt sind: copy, delete.',
  cursor: 'Ungültiger Cursor: bitte den Cursor der letzten Antwort senden oder ohne Cursor neu beginnen.',
  notCopied:
    'Erst kopieren: Die Daten werden erst gelöscht, wenn die Kopie nach D1 vollständig durchgelaufen ist.',
  busy: 'Der Speicher ist gerade nicht erreichbar. Bitte versuchen Sie es in einigen Sekunden erneut.',
} as const;

const StepBody = v.strictObject(
  {
    step: v.optional(v.picklist(['copy', 'delete'], MSG.step), 'copy'),
    cursor: v.optional(v.pipe(v.string(MSG.cursor), v.maxLength(2000, MSG.cursor))),
  },
  'Unbekanntes Feld. Erlaubt sind: step, cursor.',
);

/** Tables the move writes to, for the count check. */
const TABLES = [
  'leads',
  'consents',
  'suppression',
  'mail_sends',
  'dead_letters',
  'fanouts',
  'audit_log',
  'draws',
];

const smallBody = limitBody({ maxSize: 4096, onError: (c) => refuse(c, 400, MSG.tooLarge) });

export const adminMigrateRoutes = new Hono<AdminEnv>()
  .post('/api/admin/migrate/kv-to-d1', requireRole('ops'), smallBody, async (c) => {
    let raw: unknown;
    try {
      raw = await c.req.json();
    } catch {
      return refuse(c, 400, MSG.badJson);
    }
    const parsed = v.safeParse(StepBody, raw);
    if (!parsed.success) return refuse(c, 400, parsed.issues[0].message);
    const { step, cursor } = parsed.output;
    const state = decodeCursor(cursor);
    if (!state) return refuse(c, 400, MSG.cursor);
    const who = c.get('identity');
    try {
      const result = step === 'copy' ? await copyStep(c.env, state) : await deleteStep(c.env, state);
      // The start and the end of each pass are audited, not every page.
      if (cursor === undefined || result.done)
        await appendAudit(c.env.DB, {
          role: who.role,
          id: who.id,
          action: `migrate.${step}.${cursor === undefined ? 'started' : 'done'}`,
          detail: { phase: result.phase },
        });
      return c.json({ ok: true as const, ...result });
    } catch (error) {
      if (error instanceof NotCopiedError) return refuse(c, 409, MSG.notCopied);
      log.error('migrate.failed', { step, message: errorMessage(error) });
      return refuse(c, 503, MSG.busy);
    }
  })
  .get('/api/admin/migrate/kv-to-d1', requireRole('ops'), async (c) => {
    const row = await c.env.DB.prepare(
      `SELECT ${TABLES.map((t) => `(SELECT COUNT(*) FROM ${t}) AS ${t}`).join(', ')}`,
    ).first<Record<string, number>>();
    const copied = (await c.env.LEGACY_LEADS.get(COPIED_MARKER)) !== null;
    return c.json({ ok: true as const, copied, rows: row ?? {} });
  });
