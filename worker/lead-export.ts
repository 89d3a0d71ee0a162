/**
 * Lead export and stats, built from KV `list` metadata only: one `list` call per 1000
 * leads, never a `get` per lead (the record's export fields are in its metadata, see
 * worker/lead-store.ts). No Hono here; the route streams what `exportStream` produces.
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
import * as v from 'valibot';
import type { LeadStatusName, OpsStats } from '../src/admin/ops/api-types';
import { berlinWallClock } from '../src/lib/schedule';
import { decodeMetadata, LEAD_PREFIX, type LeadMetadata } from './lead-store';

export const EXPORT_FORMATS = ['csv', 'excel', 'ndjson'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export const LEAD_STATUSES = ['pending', 'confirmed', 'unsubscribed'] as const;

/** KV's maximum page size: 1000 leads per `list` call. */
export const LIST_PAGE = 1000;

const iso = v.pipe(v.string(), v.maxLength(40));
/** What a lead key's metadata must look like to be exported; anything else is skipped. */
const Metadata = v.object({
  e: v.pipe(v.string(), v.minLength(3), v.maxLength(254)),
  n: v.optional(v.pipe(v.string(), v.maxLength(100))),
  s: v.picklist(LEAD_STATUSES),
  c: iso,
  p: v.picklist(['before', 'live', 'after']),
  g: v.optional(v.literal(1)),
  nl: v.optional(v.literal(1)),
  cf: v.optional(iso),
  us: v.optional(v.string()),
  um: v.optional(v.string()),
  uc: v.optional(v.string()),
  x: v.optional(v.literal(1)),
});

export interface LeadRow {
  id: string;
  m: LeadMetadata;
}

export interface ExportFilter {
  /** Registered at or after this instant (ms since epoch). */
  sinceMs?: number;
  status?: LeadStatusName;
  /** Only giveaway entries. */
  giveaway?: boolean;
}

export interface ListCounters {
  listCalls: number;
  skipped: number;
}

/**
 * Every lead with readable metadata, page by page (one `list` call per page).
 * Corrupt or missing metadata is counted in `counters.skipped` and left out.
 */
export async function* leadPages(
  kv: KVNamespace,
  counters: ListCounters = { listCalls: 0, skipped: 0 },
): AsyncGenerator<LeadRow[]> {
  let cursor: string | undefined;
  do {
    const page = await kv.list<LeadMetadata>({
      prefix: LEAD_PREFIX,
      limit: LIST_PAGE,
      ...(cursor ? { cursor } : {}),
    });
    counters.listCalls += 1;
    const rows: LeadRow[] = [];
    for (const key of page.keys) {
      const m = decodeMetadata(key.metadata);
      if (m && v.is(Metadata, m) && Number.isFinite(Date.parse(m.c)))
        rows.push({ id: key.name.slice(LEAD_PREFIX.length), m });
      else counters.skipped += 1;
    }
    yield rows;
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
}

export function matches(row: LeadRow, f: ExportFilter): boolean {
  if (f.status && row.m.s !== f.status) return false;
  if (f.giveaway && row.m.g !== 1) return false;
  if (f.sinceMs !== undefined && Date.parse(row.m.c) < f.sinceMs) return false;
  return true;
}

// --- cells ---

const FORMULA_START = /^[=+\-@\t\r]/;

/** OWASP: a cell that a spreadsheet would read as a formula is prefixed with `'`. */
export function neutralise(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/** One RFC 4180 field: quoted when it holds the separator, a quote, CR or LF. */
export function csvField(value: string, separator: ',' | ';'): string {
  const safe = neutralise(value);
  return safe.includes(separator) || /["\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

interface Column {
  key: string;
  de: string;
  value: (r: LeadRow, excel: boolean) => string;
}

const STATUS_DE: Record<LeadStatusName, string> = {
  pending: 'unbestätigt',
  confirmed: 'bestätigt',
  unsubscribed: 'abgemeldet',
};
const PHASE_DE = { before: 'vor dem Webinar', live: 'während des Webinars', after: 'nach dem Webinar' };
const yesNo = (flag: boolean, excel: boolean) => (excel ? (flag ? 'ja' : 'nein') : flag ? 'true' : 'false');

/** The export columns, in order. `key` is the CSV/NDJSON name, `de` the Excel header. */
export const COLUMNS: Column[] = [
  { key: 'id', de: 'ID', value: (r) => r.id },
  { key: 'email', de: 'E-Mail', value: (r) => r.m.e },
  { key: 'firstName', de: 'Vorname', value: (r) => r.m.n ?? '' },
  { key: 'status', de: 'Status', value: (r, x) => (x ? STATUS_DE[r.m.s] : r.m.s) },
  { key: 'createdAt', de: 'Angemeldet am (UTC)', value: (r) => r.m.c },
  { key: 'confirmedAt', de: 'Bestätigt am (UTC)', value: (r) => r.m.cf ?? '' },
  { key: 'phase', de: 'Angemeldet', value: (r, x) => (x ? PHASE_DE[r.m.p] : r.m.p) },
  { key: 'giveaway', de: 'Gewinnspiel', value: (r, x) => yesNo(r.m.g === 1, x) },
  { key: 'newsletter', de: 'Newsletter', value: (r, x) => yesNo(r.m.nl === 1, x) },
  { key: 'utm_source', de: 'UTM-Quelle', value: (r) => r.m.us ?? '' },
  { key: 'utm_medium', de: 'UTM-Medium', value: (r) => r.m.um ?? '' },
  { key: 'utm_campaign', de: 'UTM-Kampagne', value: (r) => r.m.uc ?? '' },
];

/** One NDJSON object: raw values, booleans as booleans, absent values as null. */
export function ndjsonObject(r: LeadRow) {
  return {
    id: r.id,
    email: r.m.e,
    firstName: r.m.n ?? null,
    status: r.m.s,
    createdAt: r.m.c,
    confirmedAt: r.m.cf ?? null,
    phase: r.m.p,
    giveaway: r.m.g === 1,
    newsletter: r.m.nl === 1,
    utm_source: r.m.us ?? null,
    utm_medium: r.m.um ?? null,
    utm_campaign: r.m.uc ?? null,
  };
}

export function headerLine(format: ExportFormat): string {
  if (format === 'ndjson') return '';
  const excel = format === 'excel';
  const sep = excel ? ';' : ',';
  return COLUMNS.map((c) => csvField(excel ? c.de : c.key, sep)).join(sep) + '\r\n';
}

export function rowLine(format: ExportFormat, r: LeadRow): string {
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

export interface ExportResult {
  rows: number;
  skipped: number;
  listCalls: number;
  /** Reads other than `list` made through the binding for this export (should be 0). */
  getCalls: number;
}

/**
 * The binding with its read calls counted, so the export's KV cost is measured at the
 * binding rather than assumed (the bench and the `export.done` log line report it).
 */
export function countReads(kv: KVNamespace): { kv: KVNamespace; counts: { list: number; get: number } } {
  const counts = { list: 0, get: 0 };
  const counted = new Proxy(kv, {
    get(target, prop) {
      // No receiver: native binding getters must see the real binding as `this`.
      const value = Reflect.get(target, prop);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (prop === 'list') counts.list += 1;
        else if (prop === 'get' || prop === 'getWithMetadata') counts.get += 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { kv: counted, counts };
}

/**
 * The export as a byte stream; pulls one `list` page per chunk, so memory stays at one
 * page whatever the number of leads. `onDone` runs once the last byte is queued (or with
 * `complete: false` when the reader cancels or KV fails mid-way).
 */
export function exportStream(
  kv: KVNamespace,
  format: ExportFormat,
  filter: ExportFilter,
  onDone: (result: ExportResult & { complete: boolean }) => Promise<void> | void,
): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  const counters: ListCounters = { listCalls: 0, skipped: 0 };
  const reads = countReads(kv);
  const pages = leadPages(reads.kv, counters);
  let rows = 0;
  let started = false;
  let finished = false;
  const finish = async (complete: boolean) => {
    if (finished) return;
    finished = true;
    await onDone({
      rows,
      skipped: counters.skipped,
      listCalls: reads.counts.list,
      getCalls: reads.counts.get,
      complete,
    });
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
            for (const r of next.value)
              if (matches(r, filter)) {
                chunk += rowLine(format, r);
                rows += 1;
              }
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

// --- time ---

/** Calendar day (YYYY-MM-DD) of an instant in Europe/Berlin. */
export function berlinDay(ms: number): string {
  const p = berlinWallClock(ms);
  return `${p.year}-${p.month}-${p.day}`;
}

/** Offset of Europe/Berlin from UTC at an instant, in ms (+1 h or +2 h). */
function berlinOffsetMs(ms: number): number {
  const p = berlinWallClock(ms);
  const wall = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  return wall - Math.floor(ms / 1000) * 1000;
}

/** Midnight of a Berlin calendar day as an instant. */
export function berlinMidnight(day: string): number {
  const [y, m, d] = day.split('-').map(Number);
  const utcMidnight = Date.UTC(y, m - 1, d);
  return utcMidnight - berlinOffsetMs(utcMidnight - berlinOffsetMs(utcMidnight));
}

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * `since` as an instant: `YYYY-MM-DD` (midnight in Europe/Berlin) or ISO 8601 with `Z` or
 * an offset. Null for anything else, including impossible dates like 2026-02-30.
 */
export function parseSince(value: string): number | null {
  const d = DATE_ONLY.exec(value) ?? DATE_TIME.exec(value);
  if (!d) return null;
  const [y, mo, da] = [Number(d[1]), Number(d[2]), Number(d[3])];
  const probe = new Date(Date.UTC(y, mo - 1, da));
  if (probe.getUTCFullYear() !== y || probe.getUTCMonth() !== mo - 1 || probe.getUTCDate() !== da)
    return null;
  if (y < 2000 || y > 2100) return null;
  const ms = DATE_ONLY.test(value) ? berlinMidnight(value) : Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

// --- stats ---

/** Totals, per Berlin day and per UTM source, from list metadata. */
export async function leadStats(kv: KVNamespace, now = new Date()): Promise<OpsStats> {
  const counters: ListCounters = { listCalls: 0, skipped: 0 };
  const byStatus: Record<LeadStatusName, number> = { pending: 0, confirmed: 0, unsubscribed: 0 };
  const perDay = new Map<string, number>();
  const perSource = new Map<string, { count: number; confirmed: number }>();
  let total = 0;
  let giveawayEntries = 0;
  let newsletter = 0;
  for await (const page of leadPages(kv, counters)) {
    for (const r of page) {
      total += 1;
      byStatus[r.m.s] += 1;
      if (r.m.g === 1) giveawayEntries += 1;
      if (r.m.nl === 1) newsletter += 1;
      const day = berlinDay(Date.parse(r.m.c));
      perDay.set(day, (perDay.get(day) ?? 0) + 1);
      const src = perSource.get(r.m.us ?? '') ?? { count: 0, confirmed: 0 };
      src.count += 1;
      if (r.m.s === 'confirmed') src.confirmed += 1;
      perSource.set(r.m.us ?? '', src);
    }
  }
  return {
    ok: true,
    total,
    byStatus,
    confirmationRate: total ? byStatus.confirmed / total : 0,
    giveawayEntries,
    newsletter,
    perDay: fillDays(perDay),
    perSource: [...perSource]
      .map(([source, s]) => ({ source, ...s }))
      .sort((a, b) => b.count - a.count || a.source.localeCompare(b.source)),
    skipped: counters.skipped,
    generatedAt: now.toISOString(),
  };
}

/** Days from the first to the last registration, gaps as zero (at most 366 days shown). */
function fillDays(perDay: Map<string, number>): { day: string; count: number }[] {
  const days = [...perDay.keys()].sort();
  if (!days.length) return [];
  const out: { day: string; count: number }[] = [];
  const last = days[days.length - 1];
  let cursor = Date.UTC(+last.slice(0, 4), +last.slice(5, 7) - 1, +last.slice(8, 10));
  const firstMs = Date.UTC(+days[0].slice(0, 4), +days[0].slice(5, 7) - 1, +days[0].slice(8, 10));
  while (cursor >= firstMs && out.length < 366) {
    const day = new Date(cursor).toISOString().slice(0, 10);
    out.push({ day, count: perDay.get(day) ?? 0 });
    cursor -= 86_400_000;
  }
  return out.reverse();
}
