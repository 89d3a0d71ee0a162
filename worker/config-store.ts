/**
 * Published webinar configs: `config:v<N>` in KV (`CONTENT`), immutable; the live N is a
 * compare-and-swap on the D1 row `config_pointer` (one row, id 1), mirrored to KV's
 * `config:current` for edge reads. Without anything published, the repo's default
 * (version 0) is live. A stored config that fails validation is never rendered: the
 * newest valid older one is.
 *
 * Visitors never query D1: `getLiveConfig` reads the KV mirror with a 5 s isolate cache.
 * The admin (read, publish, roll back, history) reads the pointer in D1. While D1 has no
 * pointer yet (a deployment from before D1), the first reader adopts KV's `config:current`
 * into it once, so such a deployment never falls back to the default by surprise.
 * No Hono import here, so it is tested straight against the bindings; see
 * docs/decisions/030-config-publish-race.md.
 */
import * as v from 'valibot';
import defaultContent from '../src/content/webinar.json';
import { parseWebinarConfig, type Speaker, type WebinarConfig } from '../src/lib/webinar-config';
import { log } from './log';

export interface LiveConfig {
  version: number;
  config: WebinarConfig;
  /** Set when the current version was unreadable and an older one is shown instead. */
  fallbackFrom?: number;
}

const parsedDefault = parseWebinarConfig(defaultContent);
if (!parsedDefault.success)
  throw new Error('src/content/webinar.json is invalid; run npm run build for details');
export const DEFAULT_CONFIG: WebinarConfig = parsedDefault.output;

export const CURRENT_KEY = 'config:current';
export const versionKey = (n: number) => `config:v${n}`;

/** How long an isolate trusts its copy of `config:current` before asking KV again. */
const CURRENT_TTL_MS = 5_000;
let cached: { at: number; live: LiveConfig } | undefined;
const parsedVersions = new Map<number, WebinarConfig | null>();

/** Forgets everything this isolate cached (tests; dev). */
export function resetConfigCache() {
  cached = undefined;
  parsedVersions.clear();
}

/** Forgets only the cached `config:current`, so this isolate shows a fresh publish at once. */
export function forgetCurrentVersion() {
  cached = undefined;
}

async function readVersion(kv: KVNamespace, n: number): Promise<WebinarConfig | null> {
  if (parsedVersions.has(n)) return parsedVersions.get(n)!;
  const raw = await kv.get(versionKey(n), 'json').catch(() => null);
  const result = raw === null ? null : parseWebinarConfig((raw as { config?: unknown }).config ?? raw);
  const config = result?.success ? result.output : null;
  // Versions are immutable, so a parse result (good or bad) holds for the isolate's life.
  if (raw !== null) parsedVersions.set(n, config);
  return config;
}

/** KV's `config:current` (the mirror) as a number; 0 when absent. Throws on KV trouble. */
export async function readCurrentVersion(kv: KVNamespace): Promise<number> {
  const current = Number(await kv.get(CURRENT_KEY));
  return Number.isInteger(current) && current > 0 ? current : 0;
}

/**
 * The live version from D1. While no pointer row exists, KV's `config:current` is adopted
 * (INSERT OR IGNORE: of concurrent first readers one inserts, all read the same row).
 * Throws on D1 or KV trouble: the admin must not mistake an outage for version 0.
 */
export async function readPointer(db: D1Database, kv: KVNamespace, nowMs = Date.now()): Promise<number> {
  const row = await db
    .prepare('SELECT version FROM config_pointer WHERE id = 1')
    .first<{ version: number }>();
  if (row) return row.version;
  const adopted = await readCurrentVersion(kv);
  const [inserted, after] = await db.batch<{ version: number }>([
    db
      .prepare('INSERT OR IGNORE INTO config_pointer (id, version, updated_at) VALUES (1, ?1, ?2)')
      .bind(adopted, nowMs),
    db.prepare('SELECT version FROM config_pointer WHERE id = 1'),
  ]);
  if (inserted.meta.changes) log.info('config.pointer_adopted', { version: adopted });
  return after.results[0].version;
}

/**
 * Moves the pointer from `base` to `next` if it is still at `base`; true when this call
 * moved it. One conditional UPDATE: of two publishes from one base exactly one wins.
 */
async function swapPointer(db: D1Database, base: number, next: number, nowMs: number): Promise<boolean> {
  const res = await db
    .prepare('UPDATE config_pointer SET version = ?2, updated_at = ?3 WHERE id = 1 AND version = ?1')
    .bind(base, next, nowMs)
    .run();
  return res.meta.changes === 1;
}

/**
 * Writes the pointer to KV's `config:current` when the mirror differs (the 5-minute cron):
 * repairs a mirror write that failed or arrived out of order after a publish.
 * @returns the live version.
 */
export async function syncCurrentMirror(
  db: D1Database,
  kv: KVNamespace,
  nowMs = Date.now(),
): Promise<number> {
  const version = await readPointer(db, kv, nowMs);
  if ((await readCurrentVersion(kv)) !== version) {
    await kv.put(CURRENT_KEY, String(version));
    log.warn('config.mirror_repaired', { version });
  }
  return version;
}

/** The newest valid version at or below `current`; throws on KV trouble. */
async function resolveLive(kv: KVNamespace, current: number): Promise<LiveConfig> {
  for (let n = current; n > 0; n--) {
    const config = await readVersion(kv, n);
    if (config) return n === current ? { version: n, config } : { version: n, config, fallbackFrom: current };
    log.error('config.invalid_version', { version: n });
  }
  return current > 0
    ? { version: 0, config: DEFAULT_CONFIG, fallbackFrom: current }
    : { version: 0, config: DEFAULT_CONFIG };
}

/**
 * What the admin edits: the version the D1 pointer names, never the isolate's 5 s cache
 * of the mirror; D1 and KV errors propagate (the editor must not mistake an outage for
 * the default config).
 */
export async function readLiveConfigFresh(db: D1Database, kv: KVNamespace): Promise<LiveConfig> {
  return resolveLive(kv, await readPointer(db, kv));
}

/** The config visitors see now. Never throws: KV trouble falls back to the default. */
export async function getLiveConfig(kv: KVNamespace, nowMs = Date.now()): Promise<LiveConfig> {
  if (cached && nowMs - cached.at < CURRENT_TTL_MS) return cached.live;
  let live: LiveConfig = { version: 0, config: DEFAULT_CONFIG };
  try {
    live = await resolveLive(kv, await readCurrentVersion(kv));
  } catch (error) {
    log.error('config.read_failed', { message: (error as Error).message });
    if (cached) return cached.live;
  }
  cached = { at: nowMs, live };
  return live;
}

// ---------------------------------------------------------------------------------------
// Publishing

/** One published version as stored in `config:v<N>`; never changed after it is written. */
export interface ConfigRecord {
  version: number;
  config: WebinarConfig;
  /** ISO 8601, UTC. */
  publishedAt: string;
  /** The publisher's identity id (never an email address in logs). */
  publishedBy: string;
  /** One German line: what changed against the version before. */
  summary: string;
}

/** A row's facts: who, when, what changed. */
interface RecordMeta {
  publishedAt: string;
  publishedBy: string;
  summary: string;
}

/**
 * KV metadata beside each record, so the history is one `list` call, not a `get` per
 * version. Text is percent-encoded: metadata travels as an HTTP header in some runtimes,
 * where only ASCII is safe; the encoded summary is cut to stay far below KV's 1024 bytes.
 */
interface StoredMeta {
  at: string;
  by: string;
  s: string;
}

function encodeMeta(meta: RecordMeta): StoredMeta {
  let summary = meta.summary;
  while (encodeURIComponent(summary).length > 600) summary = `${summary.slice(0, -12)}…`;
  return { at: meta.publishedAt, by: encodeURIComponent(meta.publishedBy), s: encodeURIComponent(summary) };
}

function decodeMeta(meta: StoredMeta | null | undefined): RecordMeta {
  const dec = (x: string | undefined, fallback: string) => {
    try {
      return x === undefined ? fallback : decodeURIComponent(x);
    } catch {
      return fallback;
    }
  };
  return { publishedAt: meta?.at ?? '', publishedBy: dec(meta?.by, 'unbekannt'), summary: dec(meta?.s, '') };
}

/** A row in the history list. */
export interface HistoryEntry extends RecordMeta {
  version: number;
}

/** Field path (`speakers.2.name`) → German message. */
export type ConfigFieldErrors = Record<string, string>;

export type PublishResult =
  | { ok: true; version: number; summary: string }
  | { ok: false; reason: 'invalid'; errors: ConfigFieldErrors }
  | { ok: false; reason: 'conflict'; currentVersion: number }
  | { ok: false; reason: 'unknown_version' };

/** KV metadata is limited to 1024 bytes; the summary is cut well below that. */
const MAX_SUMMARY_CHARS = 280;

/** valibot issues → one message per field path; the first message for a path wins. */
export function configFieldErrors(issues: v.BaseIssue<unknown>[]): ConfigFieldErrors {
  const errors: ConfigFieldErrors = {};
  for (const issue of issues) {
    const path = v.getDotPath(issue) ?? 'config';
    // valibot's own (English) message for a missing key; the schema's messages cover the rest.
    const missing = issue.kind === 'schema' && issue.received === 'undefined';
    errors[path] ??= missing ? 'Dieses Feld fehlt.' : issue.message;
  }
  return errors;
}

/**
 * Publishes `config` as version current+1 if `baseVersion` is still current: the D1
 * pointer moves by compare-and-swap first (a stale or concurrent publish from the same
 * base gets a conflict, never a silent overwrite), then the record is written and the KV
 * mirror moved forward. A failed record write moves the pointer back.
 */
export async function publishConfig(
  db: D1Database,
  kv: KVNamespace,
  input: { baseVersion: number; config: unknown; by: string; summaryPrefix?: string; nowMs?: number },
): Promise<PublishResult> {
  const parsed = parseWebinarConfig(input.config);
  if (!parsed.success) return { ok: false, reason: 'invalid', errors: configFieldErrors(parsed.issues) };

  const nowMs = input.nowMs ?? Date.now();
  const current = await readPointer(db, kv, nowMs);
  if (input.baseVersion !== current) return { ok: false, reason: 'conflict', currentVersion: current };
  const next = current + 1;
  const previous = current > 0 ? ((await readVersion(kv, current)) ?? DEFAULT_CONFIG) : DEFAULT_CONFIG;
  const summary = clip(
    (input.summaryPrefix ? `${input.summaryPrefix}: ` : '') + summarizeChanges(previous, parsed.output),
  );
  if (!(await swapPointer(db, current, next, nowMs)))
    return { ok: false, reason: 'conflict', currentVersion: await readPointer(db, kv) };

  const record: ConfigRecord = {
    version: next,
    config: parsed.output,
    publishedAt: new Date(nowMs).toISOString(),
    publishedBy: input.by,
    summary,
  };
  const metadata = encodeMeta({ publishedAt: record.publishedAt, publishedBy: record.publishedBy, summary });
  try {
    await kv.put(versionKey(next), JSON.stringify(record), { metadata });
  } catch (error) {
    // Nobody saw `next` yet except admins reading meanwhile (they saw a fallback): undo.
    await swapPointer(db, next, current, Date.now()).catch(() => false);
    throw error;
  }
  parsedVersions.set(next, parsed.output);
  // Only forward: a slower publisher of an older version must not pull the mirror back.
  // Should this write fail or lose, the 5-minute cron repairs it (syncCurrentMirror).
  try {
    if ((await readCurrentVersion(kv)) < next) await kv.put(CURRENT_KEY, String(next));
  } catch (error) {
    log.error('config.mirror_failed', { version: next, message: (error as Error).message });
  }
  forgetCurrentVersion();
  log.info('config.published', { version: next });
  return { ok: true, version: next, summary };
}

/**
 * Roll back = publish an old version's config as a new version (history stays linear).
 * Version 0 is the repo's default config.
 */
export async function rollbackConfig(
  db: D1Database,
  kv: KVNamespace,
  input: { version: number; baseVersion?: number; by: string; nowMs?: number },
): Promise<PublishResult> {
  let config: WebinarConfig | null;
  if (input.version === 0) config = DEFAULT_CONFIG;
  else {
    const raw = await kv.get<{ config?: unknown }>(versionKey(input.version), 'json');
    if (raw === null) return { ok: false, reason: 'unknown_version' };
    config = await readVersion(kv, input.version);
    if (!config) {
      const parsed = parseWebinarConfig(raw.config ?? raw);
      return parsed.success
        ? { ok: false, reason: 'unknown_version' }
        : { ok: false, reason: 'invalid', errors: configFieldErrors(parsed.issues) };
    }
  }
  const baseVersion = input.baseVersion ?? (await readPointer(db, kv));
  return publishConfig(db, kv, {
    baseVersion,
    config,
    by: input.by,
    summaryPrefix: `Zurückgesetzt auf Version ${input.version}`,
    nowMs: input.nowMs,
  });
}

/** Published versions, newest first; one `list` call per 1000 versions. */
export async function listHistory(kv: KVNamespace): Promise<HistoryEntry[]> {
  const entries: HistoryEntry[] = [];
  let cursor: string | undefined;
  do {
    const page = await kv.list<StoredMeta>({ prefix: 'config:v', cursor });
    for (const key of page.keys) {
      const version = Number(key.name.slice('config:v'.length));
      if (!Number.isInteger(version) || version <= 0) continue;
      entries.push({ version, ...decodeMeta(key.metadata) });
    }
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return entries.sort((a, b) => b.version - a.version);
}

// ---------------------------------------------------------------------------------------
// Change summary

const clip = (s: string) => (s.length > MAX_SUMMARY_CHARS ? `${s.slice(0, MAX_SUMMARY_CHARS - 1)}…` : s);
const short = (s: string) => (s.length > 40 ? `${s.slice(0, 39)}…` : s);

/** German labels for plain fields, by dot path; anything not listed falls under its section. */
const FIELD_LABELS: Record<string, string> = {
  'webinar.eyebrow': 'Dachzeile',
  'webinar.title': 'Titel',
  'webinar.subtitle': 'Untertitel',
  'webinar.start': 'Beginn',
  'webinar.durationMinutes': 'Dauer',
  'webinar.joinUrl': 'Teilnahme-Link',
  'webinar.replayUrl': 'Aufzeichnungs-Link',
  cta: 'Anmeldeknopf',
  reassurance: 'Zusicherung',
  topicsHeading: 'Überschrift der Themen',
  speakersHeading: 'Überschrift der Referenten',
  'giveaway.headline': 'Gewinnspiel-Überschrift',
  'giveaway.prize': 'Gewinnspiel-Preis',
  'giveaway.deadline': 'Teilnahmeschluss',
  'giveaway.terms': 'Teilnahmebedingungen',
  'legal.privacy': 'Datenschutzhinweise',
};
const SECTION_LABELS: Record<string, string> = {
  form: 'Formulartexte',
  legal: 'Impressum',
  seo: 'SEO',
  webinar: 'Webinar',
  giveaway: 'Gewinnspiel',
  agenda: 'Ablauf',
  faq: 'Häufige Fragen',
  logo: 'Logo',
  registrationCount: 'Anzeige der Anmeldezahl',
};

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function speakerChanges(before: Speaker[], after: Speaker[]): string[] {
  const out: string[] = [];
  const old = new Map(before.map((s) => [s.id, s]));
  const now = new Map(after.map((s) => [s.id, s]));
  for (const s of after) {
    const o = old.get(s.id);
    if (!o) {
      out.push(`Referent hinzugefügt: ${short(s.name)}`);
      continue;
    }
    if (o.name !== s.name) out.push(`Referent umbenannt: ${short(o.name)} → ${short(s.name)}`);
    if (!same(o.photo, s.photo)) out.push(`Foto ${s.photo ? 'geändert' : 'entfernt'}: ${short(s.name)}`);
    if (o.role !== s.role || o.bio !== s.bio) out.push(`Referent bearbeitet: ${short(s.name)}`);
  }
  for (const o of before) if (!now.has(o.id)) out.push(`Referent entfernt: ${short(o.name)}`);
  const keptOld = before.filter((s) => now.has(s.id)).map((s) => s.id);
  const keptNew = after.filter((s) => old.has(s.id)).map((s) => s.id);
  if (!same(keptOld, keptNew)) out.push('Referenten neu sortiert');
  return out;
}

/** Dot paths of leaves (arrays count as one leaf) that differ between a and b. */
function changedPaths(a: unknown, b: unknown, path: string, out: string[]) {
  if (same(a, b)) return;
  const isObj = (x: unknown): x is Record<string, unknown> =>
    typeof x === 'object' && x !== null && !Array.isArray(x);
  if (isObj(a) && isObj(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)]))
      changedPaths(a[key], b[key], path ? `${path}.${key}` : key, out);
  } else out.push(path);
}

/**
 * One German line saying what changed from `before` to `after`, e.g.
 * "Referent umbenannt: Dieter Bohlen → Heino; Titel geändert".
 */
export function summarizeChanges(before: WebinarConfig, after: WebinarConfig): string {
  const parts: string[] = [];
  const paths: string[] = [];
  changedPaths(
    { ...before, speakers: undefined, topics: undefined, $schema: undefined },
    { ...after, speakers: undefined, topics: undefined, $schema: undefined },
    '',
    paths,
  );
  const sections = new Set<string>();
  for (const path of paths) {
    const label = FIELD_LABELS[path];
    if (label) parts.push(`${label} geändert`);
    else sections.add(SECTION_LABELS[path.split('.')[0]] ?? path);
  }
  for (const section of sections) parts.push(`${section} geändert`);
  if (!same(before.topics, after.topics)) {
    const diff = after.topics.length - before.topics.length;
    parts.push(
      diff > 0
        ? `Thema hinzugefügt (${after.topics.length})`
        : diff < 0
          ? `Thema entfernt (${after.topics.length})`
          : 'Themen geändert',
    );
  }
  parts.unshift(...speakerChanges(before.speakers, after.speakers));
  return parts.length ? parts.join('; ') : 'Keine inhaltliche Änderung';
}
