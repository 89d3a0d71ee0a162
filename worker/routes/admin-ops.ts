/**
 * Ops routes (role `ops` only; marketing gets 403 on every one):
 *
 *   GET  /api/admin/stats                 totals, per day, per UTM source
 *   GET  /api/admin/leads                 streamed export: ?format=csv|excel|ndjson&since=&status=&giveaway=1
 *   POST /api/admin/leads/erase           `{ email }` → same answer for known and unknown
 *   GET  /api/admin/audit                 audit log, newest first (?cursor=)
 *   GET  /api/admin/giveaway/draws        past draws (with winners)
 *   POST /api/admin/giveaway/draw         `{ winners, redraw?: { reason } }`
 *
 * Thin: parse (valibot, German messages), call the store, answer, audit.
 */
import { Hono, type Context } from 'hono';
import { limitBody } from '../body-limit';
import * as v from 'valibot';
import { appendAudit, readAudit } from '../audit-log';
import { refuse, requireRole, type AdminEnv } from '../auth';
import { getLiveConfig } from '../config-store';
import { drawWinners, getDraw, listDraws } from '../giveaway-draw';
import {
  CONTENT_TYPES,
  EXPORT_FORMATS,
  LEAD_STATUSES,
  exportFilename,
  exportStream,
  leadStats,
  parseSince,
  type ExportFilter,
} from '../lead-export';
import { eraseLead, leadId } from '../lead-store';
import { errorMessage, log } from '../log';

const MSG = {
  format: 'Unbekanntes Format. Erlaubt sind: csv, excel, ndjson.',
  status: 'Unbekannter Status. Erlaubt sind: pending, confirmed, unsubscribed.',
  giveaway: 'Der Filter giveaway erlaubt nur den Wert 1.',
  since:
    'Ungültiges Datum für since. Erwartet wird JJJJ-MM-TT oder ein ISO-8601-Zeitpunkt mit Zeitzone, z. B. 2026-12-01T09:00:00Z.',
  sinceLong: 'Der Wert für since ist zu lang.',
  unknownParam: 'Unbekannter Parameter. Erlaubt sind: format, since, status, giveaway.',
  badJson: 'Die Anfrage enthält kein gültiges JSON.',
  tooLarge: 'Die Anfrage ist zu groß.',
  email: 'Bitte geben Sie eine gültige E-Mail-Adresse ein.',
  erased:
    'Erledigt. Falls zu dieser Adresse Daten gespeichert waren, sind sie gelöscht; die Adresse wird nicht wieder aufgenommen.',
  winners: 'Die Zahl der Gewinner muss eine ganze Zahl zwischen 1 und 1000 sein.',
  reason: 'Bitte begründen Sie die Neuauslosung (3 bis 300 Zeichen).',
  alreadyDrawn:
    'Es wurde bereits ausgelost. Eine neue Auslosung ist nur als ausdrückliche Neuauslosung mit Begründung möglich.',
  noneEligible: 'Es gibt keine teilnahmeberechtigten Einträge.',
  tooMany: (n: number) =>
    `Es gibt nur ${n} teilnahmeberechtigte Einträge; so viele Gewinner können nicht gezogen werden.`,
  cursor: 'Ungültiger Cursor.',
  busy: 'Der Speicher ist gerade nicht erreichbar. Bitte versuchen Sie es in einigen Sekunden erneut.',
} as const;

const ExportQuery = v.strictObject(
  {
    format: v.optional(v.picklist(EXPORT_FORMATS, MSG.format), 'csv'),
    since: v.optional(
      v.pipe(
        v.string(MSG.since),
        v.maxLength(40, MSG.sinceLong),
        v.check((s) => parseSince(s) !== null, MSG.since),
      ),
    ),
    status: v.optional(v.picklist(LEAD_STATUSES, MSG.status)),
    giveaway: v.optional(v.literal('1', MSG.giveaway)),
  },
  MSG.unknownParam,
);

const EraseBody = v.object({
  email: v.pipe(
    v.string(MSG.email),
    v.trim(),
    v.nonEmpty(MSG.email),
    v.maxLength(254, MSG.email),
    v.email(MSG.email),
  ),
});

const DrawBody = v.object({
  winners: v.pipe(
    v.number(MSG.winners),
    v.integer(MSG.winners),
    v.minValue(1, MSG.winners),
    v.maxValue(1000, MSG.winners),
  ),
  redraw: v.optional(
    v.object({
      reason: v.pipe(
        v.string(MSG.reason),
        v.trim(),
        v.minLength(3, MSG.reason),
        v.maxLength(300, MSG.reason),
      ),
    }),
  ),
});

const AuditQuery = v.object({
  cursor: v.optional(v.pipe(v.string(MSG.cursor), v.maxLength(1000, MSG.cursor))),
});

/** A single-valued query as an object; a repeated parameter is an error, not a silent pick. */
function queryObject(c: Context): Record<string, string> | null {
  const out: Record<string, string> = {};
  for (const [k, val] of new URL(c.req.url).searchParams) {
    if (k in out) return null;
    out[k] = val;
  }
  return out;
}

async function jsonBody<T extends v.GenericSchema>(
  c: Context<AdminEnv>,
  schema: T,
): Promise<{ ok: true; value: v.InferOutput<T> } | { ok: false; res: Response }> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    return { ok: false, res: refuse(c, 400, MSG.badJson) };
  }
  const parsed = v.safeParse(schema, body);
  if (!parsed.success) return { ok: false, res: refuse(c, 400, parsed.issues[0].message) };
  return { ok: true, value: parsed.output };
}

const smallBody = limitBody({ maxSize: 4096, onError: (c) => refuse(c, 400, MSG.tooLarge) });

export const adminOpsRoutes = new Hono<AdminEnv>()
  .get('/api/admin/stats', requireRole('ops'), async (c) => {
    const stats = await leadStats(c.env.LEADS);
    if (stats.skipped) log.warn('stats.skipped_corrupt', { skipped: stats.skipped });
    return c.json(stats);
  })
  .get('/api/admin/leads', requireRole('ops'), async (c) => {
    const query = queryObject(c);
    if (!query) return refuse(c, 400, 'Jeder Parameter darf nur einmal angegeben werden.');
    const parsed = v.safeParse(ExportQuery, query);
    if (!parsed.success) return refuse(c, 400, parsed.issues[0].message);
    const q = parsed.output;
    const filter: ExportFilter = {
      ...(q.since ? { sinceMs: parseSince(q.since)! } : {}),
      ...(q.status ? { status: q.status } : {}),
      ...(q.giveaway ? { giveaway: true } : {}),
    };
    const who = c.get('identity');
    const kv = c.env.LEADS;
    const stream = exportStream(kv, q.format, filter, async (r) => {
      // Corrupt metadata cannot be reported in the body once streaming has begun (a CSV
      // has no trailer); it goes to the worker log and the audit entry.
      if (r.skipped) log.warn('export.skipped_corrupt', { skipped: r.skipped, format: q.format });
      log.info('export.done', {
        format: q.format,
        rows: r.rows,
        skipped: r.skipped,
        listCalls: r.listCalls,
        getCalls: r.getCalls,
        complete: r.complete,
      });
      await appendAudit(kv, {
        role: who.role,
        id: who.id,
        action: 'leads.exported',
        detail: {
          format: q.format,
          rows: r.rows,
          skipped: r.skipped,
          complete: r.complete,
          ...(q.since ? { since: q.since } : {}),
          ...(q.status ? { status: q.status } : {}),
          ...(q.giveaway ? { giveaway: true } : {}),
        },
      });
    });
    return new Response(stream, {
      headers: {
        'Content-Type': CONTENT_TYPES[q.format],
        'Content-Disposition': `attachment; filename="${exportFilename(q.format, new Date())}"`,
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
      },
    });
  })
  .post('/api/admin/leads/erase', requireRole('ops'), smallBody, async (c) => {
    const body = await jsonBody(c, EraseBody);
    if (!body.ok) return body.res;
    const who = c.get('identity');
    try {
      await eraseLead(c.env.LEADS, await leadId(body.value.email, c.env.LEAD_KEY_SECRET), { by: 'ops' });
    } catch (error) {
      log.error('erase.failed', { message: errorMessage(error) });
      return refuse(c, 503, MSG.busy);
    }
    // The audit says that an erasure happened and who did it, never which address.
    await appendAudit(c.env.DB, {
      role: who.role,
      id: who.id,
      action: 'lead.erased',
      detail: { count: 1 },
    });
    return c.json({ ok: true as const, message: MSG.erased });
  })
  .get('/api/admin/audit', requireRole('ops'), async (c) => {
    const parsed = v.safeParse(AuditQuery, queryObject(c) ?? {});
    if (!parsed.success) return refuse(c, 400, parsed.issues[0].message);
    const page = await readAudit(c.env.LEADS, { limit: 200, cursor: parsed.output.cursor });
    return c.json({ ok: true as const, ...page });
  })
  .get('/api/admin/giveaway/draws', requireRole('ops'), async (c) => {
    const summaries = await listDraws(c.env.LEADS);
    // Winners are needed by ops to notify them: only the latest few records are read in full.
    const draws = await Promise.all(summaries.slice(0, 10).map((s) => getDraw(c.env.LEADS, s.key)));
    return c.json({ ok: true as const, draws: draws.filter((d) => d !== null), total: summaries.length });
  })
  .post('/api/admin/giveaway/draw', requireRole('ops'), smallBody, async (c) => {
    const body = await jsonBody(c, DrawBody);
    if (!body.ok) return body.res;
    const who = c.get('identity');
    const { config } = await getLiveConfig(c.env.CONTENT);
    const outcome = await drawWinners(c.env.LEADS, {
      winners: body.value.winners,
      by: who.id,
      deadline: config.giveaway.deadline,
      redraw: body.value.redraw,
    });
    if (!outcome.ok) {
      await appendAudit(c.env.DB, {
        role: who.role,
        id: who.id,
        action: 'giveaway.refused',
        detail: { reason: outcome.reason, winners: body.value.winners },
      });
      if (outcome.reason === 'already_drawn') return refuse(c, 409, MSG.alreadyDrawn);
      if (outcome.reason === 'none_eligible') return refuse(c, 400, MSG.noneEligible);
      return refuse(c, 400, MSG.tooMany(outcome.eligibleCount));
    }
    const r = outcome.record;
    await appendAudit(c.env.DB, {
      role: who.role,
      id: who.id,
      action: 'giveaway.drawn',
      detail: {
        eligible: r.eligibleCount,
        winners: r.winners.length,
        eligibleHash: r.eligibleHash,
        draw: r.key,
        ...(r.redraw ? { redraw: true, reason: r.redraw.reason } : {}),
      },
    });
    return c.json({ ok: true as const, draw: r });
  });
