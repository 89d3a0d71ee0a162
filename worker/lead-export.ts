/**
 * Lead export and stats from D1. No Hono here; the route streams what `exportStream`
 * produces.
 *
 * The export reads `leads` in pages of 1000 by keyset pagination on the id (`id > last`,
 * primary key order), one query per page, pulled only when the reader wants the next
 * chunk: memory stays at one page whatever the number of leads. The giveaway and
 * newsletter columns are true only for a confirmed, not withdrawn consent of that kind.
 * Stats are SQL aggregates (COUNT / GROUP BY) in one batch, never a read of every row.
 *
 * Formats (columns in docs/decisions/021-lead-export.md and the README):
 * - `csv`: RFC 4180, comma, CRLF, English column names, values as stored.
 * - `excel`: the Excel-DE preset: `;`, UTF-8 BOM, CRLF, German column names and values
 *   (ja/nein, German status words).
 * - `ndjson`: one JSON object per line (`\n`), raw values, for tools.
 *
 * CSV and Excel cells starting with `=`, `+`, `-`, `@`, TAB or CR get a leading `'`
 * (OWASP CSV injection), so a first name of `=HYPERLINK(...)` opens as text.
 */
import type { LeadStatusName, OpsStats } from '../src/admin/ops/api-types';
import type { Phase } from '../src/lib/schedule';
import { berlinDay, berlinDaysFromHours } from './berlin-time';
import { eligibleLead } from './giveaway-draw';

export const EXPORT_FORMATS = ['csv', 'excel', 'ndjson'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export const LEAD_STATUSES = ['pending', 'confirmed', 'unsubscribed'] as const;

/** Leads per query. */
export const EXPORT_PAGE = 1000;

/** One exported lead, as the page query returns it. */
export interface ExportRow {
  id: string;
  email: string;
  first_name: string;
  status: LeadStatusName;
  created_at: number;
  confirmed_at: number | null;
  phase: Phase;
  giveaway: 0 | 1;
  newsletter: 0 | 1;
  utm_source: string | null;
  utm_medium: string | null;
  utm_campaign: string | null;
}

export interface ExportFilter {
  /** Registered at or after this instant (ms since epoch). */
  sinceMs?: number;
  status?: LeadStatusName;
  /** Only leads with a confirmed giveaway consent. */
  giveaway?: boolean;
  /**
   * Only the giveaway draw's eligible entries for this deadline (ms): exactly the ids
   * whose sorted list the draw's `eligibleHash` is the sha256 of.
   */
  eligibleDeadlineMs?: number;
}

/** What the export cost in D1, reported in the log and by the bench. */
export interface QueryCounters {
  queries: number;
  /** Sum of D1's `meta.rows_read` over the queries. */
  rowsRead: number;
}

const confirmedConsent = (kind: 'giveaway' | 'newsletter') =>
  `EXISTS (SELECT 1 FROM consents c WHERE c.lead_id = l.id AND c.kind = '${kind}' AND c.status = 'confirmed')`;

/** The page query for a filter: constant SQL fragments only, every value a parameter. */
function pageQuery(f: ExportFilter): string {
  const where = ['l.id > ?1'];
  if (f.sinceMs !== undefined) where.push('l.created_at >= ?2');
  if (f.status) where.push('l.status = ?3');
  if (f.giveaway) where.push(confirmedConsent('giveaway'));
  if (f.eligibleDeadlineMs !== undefined) where.push(eligibleLead('?4'));
  return `SELECT l.id, l.email, l.first_name, l.status, l.created_at, l.confirmed_at, l.phase,
      ${confirmedConsent('giveaway')} AS giveaway, ${confirmedConsent('newsletter')} AS newsletter,
      l.utm_source, l.utm_medium, l.utm_campaign
    FROM leads l WHERE ${where.join(' AND ')} ORDER BY l.id LIMIT ?5`;
}

/** Every matching lead, page by page, in id order (one query per page). */
export async function* leadPages(
  db: D1Database,
  filter: ExportFilter,
  counters: QueryCounters = { queries: 0, rowsRead: 0 },
): AsyncGenerator<ExportRow[]> {
  const stmt = db.prepare(pageQuery(filter));
  let after = '';
  for (;;) {
    const res = await stmt
      .bind(
        after,
        filter.sinceMs ?? null,
        filter.status ?? null,
        filter.eligibleDeadlineMs ?? null,
        EXPORT_PAGE,
      )
      .all<ExportRow>();
    counters.queries += 1;
    counters.rowsRead += res.meta.rows_read ?? 0;
    if (res.results.length) yield res.results;
    if (res.results.length < EXPORT_PAGE) return;
    after = res.results[res.results.length - 1].id;
  }
}

// --- cells ---

/** A formula character at the start of the value or right after a `,` or `;`. */
const FORMULA_AT_SEGMENT = /(^|[,;])([=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20])/g;

/**
 * OWASP CSV injection: every segment a spreadsheet could read as a formula gets a leading
 * `'`, the value's start and every segment after a `,` or `;` alike. A file opened with
 * the other separator (the comma CSV in German Excel splits at `;`, the Excel preset in
 * a tool that splits at `,`) cannot turn a segment into a live formula either.
 */
export function neutralise(value: string): string {
  return value.replace(FORMULA_AT_SEGMENT, "$1'$2");
}

/** One RFC 4180 field, always quoted (quotes doubled), neutralised first. */
export function csvField(value: string, _separator: ',' | ';'): string {
  return `"${neutralise(value).replace(/"/g, '""')}"`;
}

interface Column {
  key: string;
  de: string;
  value: (r: ExportRow, excel: boolean) => string;
}

const STATUS_DE: Record<LeadStatusName, string> = {
  pending: 'unbestätigt',
  confirmed: 'bestätigt',
  unsubscribed: 'abgemeldet',
};
const PHASE_DE = { before: 'vor dem Webinar', live: 'während des Webinars', after: 'nach dem Webinar' };
const yesNo = (flag: boolean, excel: boolean) => (excel ? (flag ? 'ja' : 'nein') : flag ? 'true' : 'false');
const iso = (ms: number | null) => (ms === null ? '' : new Date(ms).toISOString());

/** The export columns, in order. `key` is the CSV/NDJSON name, `de` the Excel header. */
export const COLUMNS: Column[] = [
  { key: 'id', de: 'ID', value: (r) => r.id },
  { key: 'email', de: 'E-Mail', value: (r) => r.email },
  { key: 'firstName', de: 'Vorname', value: (r) => r.first_name },
  { key: 'status', de: 'Status', value: (r, x) => (x ? STATUS_DE[r.status] : r.status) },
  { key: 'createdAt', de: 'Angemeldet am (UTC)', value: (r) => iso(r.created_at) },
  { key: 'confirmedAt', de: 'Bestätigt am (UTC)', value: (r) => iso(r.confirmed_at) },
  { key: 'phase', de: 'Angemeldet', value: (r, x) => (x ? PHASE_DE[r.phase] : r.phase) },
  { key: 'giveaway', de: 'Gewinnspiel', value: (r, x) => yesNo(r.giveaway === 1, x) },
  { key: 'newsletter', de: 'Newsletter', value: (r, x) => yesNo(r.newsletter === 1, x) },
  { key: 'utm_source', de: 'UTM-Quelle', value: (r) => r.utm_source ?? '' },
  { key: 'utm_medium', de: 'UTM-Medium', value: (r) => r.utm_medium ?? '' },
  { key: 'utm_campaign', de: 'UTM-Kampagne', value: (r) => r.utm_campaign ?? '' },
];

/** One NDJSON object: raw values, booleans as booleans, absent values as null. */
export function ndjsonObject(r: ExportRow) {
  return {
    id: r.id,
    email: r.email,
    firstName: r.first_name || null,
    status: r.status,
    createdAt: iso(r.created_at),
    confirmedAt: r.confirmed_at === null ? null : iso(r.confirmed_at),
    phase: r.phase,
    giveaway: r.giveaway === 1,
    newsletter: r.newsletter === 1,
    utm_source: r.utm_source || null,
    utm_medium: r.utm_medium || null,
    utm_campaign: r.utm_campaign || null,
  };
}

export function headerLine(format: ExportFormat): string {
  if (format === 'ndjson') return '';
  const excel = format === 'excel';
  const sep = excel ? ';' : ',';
  return COLUMNS.map((c) => csvField(excel ? c.de : c.key, sep)).join(sep) + '\r\n';
}

export function rowLine(format: ExportFormat, r: ExportRow): string {
  if (format === 'ndjson') return JSON.stringify(ndjsonObject(r)) + '\n';
  const excel = format === 'excel';
  const sep = excel ? ';' : ',';
  return COLUMNS.map((c) => csvField(c.value(r, excel), sep)).join(sep) + '\r\n';
}

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8; header=present',
  excel: 'text/csv; charset=utf-8; header=present',
  ndjson: 'application/x-ndjson; charset=utf-8',
};

/** `leads-2026-12-01.csv`, `leads-excel-2026-12-01.csv`, `leads-2026-12-01.ndjson`: no personal data. */
export function exportFilename(format: ExportFormat, now: Date): string {
  const day = berlinDay(now.getTime());
  return format === 'ndjson'
    ? `leads-${day}.ndjson`
    : `leads-${format === 'excel' ? 'excel-' : ''}${day}.csv`;
}

export interface ExportResult extends QueryCounters {
  rows: number;
  /** False when the reader cancelled or D1 failed mid-way. */
  complete: boolean;
}

/**
 * The export as a byte stream; pulls one page per chunk. `onDone` runs once the last byte
 * is queued (or with `complete: false` when the reader cancels or D1 fails mid-way).
 */
export function exportStream(
  db: D1Database,
  format: ExportFormat,
  filter: ExportFilter,
  onDone: (result: ExportResult) => Promise<void> | void,
): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  const counters: QueryCounters = { queries: 0, rowsRead: 0 };
  const pages = leadPages(db, filter, counters);
  let rows = 0;
  let started = false;
  let finished = false;
  const finish = async (complete: boolean) => {
    if (finished) return;
    finished = true;
    await onDone({ rows, ...counters, complete });
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          let chunk = '';
          if (!started) {
            started = true;
            // The BOM makes Excel read the file as UTF-8 (umlauts) instead of Windows-1252.
            chunk = (format === 'excel' ? '\uFEFF' : '') + headerLine(format);
          }
          const next = await pages.next();
          if (!next.done) {
            for (const r of next.value) chunk += rowLine(format, r);
            rows += next.value.length;
          }
          if (chunk) controller.enqueue(enc.encode(chunk));
          if (next.done) {
            await finish(true);
            controller.close();
          }
        } catch (error) {
          await finish(false);
          controller.error(error);
        }
      },
      async cancel() {
        await pages.return(undefined);
        await finish(false);
      },
    },
    { highWaterMark: 0 },
  );
}

// --- stats ---

/**
 * Totals, per Berlin day and per UTM source: five aggregate queries in one batch (one
 * snapshot). Per day is grouped by UTC hour in SQL and summed into Berlin days here
 * (worker/berlin-time.ts, berlinDaysFromHours).
 */
export async function leadStats(db: D1Database, now = new Date()): Promise<OpsStats & QueryCounters> {
  const consentCount = (kind: 'giveaway' | 'newsletter') =>
    db.prepare(
      `SELECT COUNT(DISTINCT lead_id) AS n FROM consents WHERE kind = '${kind}' AND status = 'confirmed'`,
    );
  const results = await db.batch<Record<string, unknown>>([
    db.prepare('SELECT status, COUNT(*) AS n FROM leads GROUP BY status'),
    consentCount('giveaway'),
    consentCount('newsletter'),
    db.prepare('SELECT created_at / 3600000 AS hour, COUNT(*) AS n FROM leads GROUP BY hour'),
    db.prepare(
      `SELECT COALESCE(utm_source, '') AS source, COUNT(*) AS n,
         SUM(CASE WHEN status = 'confirmed' THEN 1 ELSE 0 END) AS confirmed
       FROM leads GROUP BY source`,
    ),
  ]);
  const [statuses, giveaway, newsletter, hours, sources] = results;
  const byStatus: Record<LeadStatusName, number> = { pending: 0, confirmed: 0, unsubscribed: 0 };
  for (const r of statuses.results) byStatus[r.status as LeadStatusName] = Number(r.n);
  const total = byStatus.pending + byStatus.confirmed + byStatus.unsubscribed;
  const perSource = sources.results
    .map((r) => ({ source: String(r.source), count: Number(r.n), confirmed: Number(r.confirmed) }))
    .sort((a, b) => b.count - a.count || a.source.localeCompare(b.source));
  return {
    ok: true,
    total,
    byStatus,
    confirmationRate: total ? byStatus.confirmed / total : 0,
    giveawayEntries: Number(giveaway.results[0]?.n ?? 0),
    newsletter: Number(newsletter.results[0]?.n ?? 0),
    perDay: berlinDaysFromHours(hours.results.map((r) => ({ hour: Number(r.hour), count: Number(r.n) }))),
    perSource,
    skipped: 0,
    generatedAt: now.toISOString(),
    queries: results.length,
    rowsRead: results.reduce((s, r) => s + (r.meta.rows_read ?? 0), 0),
  };
}
