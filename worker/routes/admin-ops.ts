/**
 * Ops routes (role `ops` only; marketing gets 403 on every one):
 *
 *   GET  /api/admin/stats                 totals, per day, per UTM source
 *   GET  /api/admin/leads                 streamed export: ?format=csv|excel|ndjson&since=&status=
 *                                         &giveaway=1&eligible=1 (the draw's eligible entries)
 *   POST /api/admin/leads/erase           `{ email }` → same answer for known and unknown
 *   GET  /api/admin/audit                 audit log, newest first (?cursor=)
 *   GET  /api/admin/giveaway/draws        past draws, newest first (winners with contact data)
 *   POST /api/admin/giveaway/draw         `{ winners, redraw?: { reason } }`
 *
 * Thin: parse (valibot, German messages), call the store (D1), answer, audit.
 */
import { Hono, type Context } from 'hono';
import { limitBody } from '../body-limit';
import * as v from 'valibot';
import { appendAudit, readAudit } from '../audit-log';
import { refuse, requireRole, type AdminEnv } from '../auth';
import { getLiveConfig } from '../config-store';
import { drawWinners, listDraws, withContacts } from '../giveaway-draw';
import {
  CONTENT_TYPES,
  EXPORT_FORMATS,
  LEAD_STATUSES,
  exportFilename,
  exportStream,
  leadStats,
  type ExportFilter,
} from '../lead-export';
import { parseSince } from '../berlin-time';
import { eraseAddress } from '../store/lead-store';
import { errorMessage, log } from '../log';

const MSG = {
  format: 'Unbekanntes Format. Erlaubt sind: csv, excel, ndjson.',
  status: 'Unbekannter Status. Erlaubt sind: pending, confirmed, unsubscribed.',
  giveaway: 'Der Filter giveaway erlaubt nur den Wert 1.',
  eligible: 'Der Filter eligible erlaubt nur den Wert 1.',
  since:
    'Ungültiges Datum für since. Erwartet wird JJJJ-MM-TT oder ein ISO-8601-Zeitpunkt mit Zeitzone, z. B. 2026-12-01T09:00:00Z.',
  sinceLong: 'Der Wert für since ist zu lang.',
  unknownParam: 'Unbekannter Parameter. Erlaubt sind: format, since, status, giveaway, eligible.',
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
  tooMany: (n: number, redraw: boolean) =>
    `Es gibt nur ${n} teilnahmeberechtigte Einträge${redraw ? ', die noch nicht gewonnen haben' : ''}; so viele Gewinner können nicht gezogen werden.`,
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
    eligible: v.optional(v.literal('1', MSG.eligible)),
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
    const { queries, rowsRead, ...stats } = await leadStats(c.env.DB);
    log.info('stats.done', { queries, rowsRead });
    return c.json(stats);
  })
  .get('/api/admin/leads', requireRole('ops'), async (c) => {
    const query = queryObject(c);
    if (!query) return refuse(c, 400, 'Jeder Parameter darf nur einmal angegeben werden.');
    const parsed = v.safeParse(ExportQuery, query);
    if (!parsed.success) return refuse(c, 400, parsed.issues[0].message);
    const q = parsed.output;
    // The draw's deadline: the same live config the draw itself reads.
    const deadline = q.eligible ? (await getLiveConfig(c.env.CONTENT)).config.giveaway.deadline : undefined;
    const filter: ExportFilter = {
      ...(q.since ? { sinceMs: parseSince(q.since)! } : {}),
      ...(q.status ? { status: q.status } : {}),
      ...(q.giveaway ? { giveaway: true } : {}),
      ...(deadline ? { eligibleDeadlineMs: Date.parse(deadline) } : {}),
    };
    const who = c.get('identity');
    const db = c.env.DB;
    const stream = exportStream(db, q.format, filter, async (r) => {
      log.info('export.done', {
        format: q.format,
        rows: r.rows,
        queries: r.queries,
        rowsRead: r.rowsRead,
        complete: r.complete,
      });
      await appendAudit(db, {
        role: who.role,
        id: who.id,
        action: 'leads.exported',
        detail: {
          format: q.format,
          rows: r.rows,
          complete: r.complete,
          ...(q.since ? { since: q.since } : {}),
          ...(q.status ? { status: q.status } : {}),
          ...(q.giveaway ? { giveaway: true } : {}),
          ...(deadline ? { eligible: true, deadline } : {}),
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
      await eraseAddress(c.env.DB, c.env.LEAD_KEY_SECRET, body.value.email, { atMs: Date.now(), by: 'ops' });
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
    const page = await readAudit(c.env.DB, { limit: 200, cursor: parsed.output.cursor });
    return c.json({ ok: true as const, ...page });
  })
  .get('/api/admin/giveaway/draws', requireRole('ops'), async (c) => {
    const { draws, total } = await listDraws(c.env.DB);
    // Ops need the winners' contact data to notify them: looked up now, never stored.
    return c.json({ ok: true as const, draws: await withContacts(c.env.DB, draws), total });
  })
  .post('/api/admin/giveaway/draw', requireRole('ops'), smallBody, async (c) => {
    const body = await jsonBody(c, DrawBody);
    if (!body.ok) return body.res;
    const who = c.get('identity');
    const { config } = await getLiveConfig(c.env.CONTENT);
    let outcome;
    try {
      outcome = await drawWinners(c.env.DB, {
        winners: body.value.winners,
        by: who.id,
        deadline: config.giveaway.deadline,
        redraw: body.value.redraw,
      });
    } catch (error) {
      log.error('giveaway.draw_failed', { message: errorMessage(error) });
      return refuse(c, 503, MSG.busy);
    }
    if (!outcome.ok) {
      await appendAudit(c.env.DB, {
        role: who.role,
        id: who.id,
        action: 'giveaway.refused',
        detail: { reason: outcome.reason, winners: body.value.winners },
      });
      if (outcome.reason === 'already_drawn') return refuse(c, 409, MSG.alreadyDrawn);
      if (outcome.reason === 'none_eligible') return refuse(c, 400, MSG.noneEligible);
      return refuse(c, 400, MSG.tooMany(outcome.eligibleCount, !!body.value.redraw));
    }
    const d = outcome.draw;
    await appendAudit(c.env.DB, {
      role: who.role,
      id: who.id,
      action: 'giveaway.drawn',
      detail: {
        eligible: d.eligibleCount,
        winners: d.winners.length,
        eligibleHash: d.eligibleHash,
        draw: d.id,
        series: d.seriesId,
        seq: d.seq,
        ...(d.redraw ? { redraw: true, reason: d.redraw.reason } : {}),
      },
    });
    const [view] = await withContacts(c.env.DB, [d]);
    return c.json({ ok: true as const, draw: view });
  });
