/**
 * `npm run migrate:kv-to-d1 -- --url <base> --token <ops token> [--keep-kv]`
 *
 * Moves a KV-era deployment's person data into D1 through
 * `POST /api/admin/migrate/kv-to-d1` (worker/routes/admin-migrate.ts), one bounded step
 * per request with a progress line, then prints the count check (KV keys seen per kind
 * against what arrived in D1, and the D1 row counts) and, only when it adds up, deletes
 * every personal key from KV (unless --keep-kv). Idempotent and resumable: after a crash
 * or Ctrl-C, run it again; nothing already moved changes. Transient failures (503,
 * network) are retried three times per step.
 *
 * Exit codes: 0 done, 1 usage, 2 refused (auth), 3 network or server failure,
 * 4 the count check does not add up (KV left as it was). The token can also come from
 * MIGRATE_TOKEN, so it does not have to appear in the shell history.
 * See docs/decisions/065-kv-to-d1-migration.md.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const USAGE = 'Aufruf: npm run migrate:kv-to-d1 -- --url <https://…> --token <Ops-Token> [--keep-kv]';
const ENDPOINT = '/api/admin/migrate/kv-to-d1';

class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

interface Options {
  url: URL;
  token: string;
  keepKv: boolean;
}

interface KindCount {
  seen: number;
  moved: number;
  skipped: number;
  missing: number;
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        'keep-kv': { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (error) {
    throw new CliError(`${(error as Error).message}\n${USAGE}`, 1);
  }
  if (values.help) throw new CliError(USAGE, 0);
  const token = values.token ?? env.MIGRATE_TOKEN;
  if (!values.url || !token)
    throw new CliError(`--url und --token (oder MIGRATE_TOKEN) sind nötig.\n${USAGE}`, 1);
  try {
    return { url: new URL(values.url), token, keepKv: values['keep-kv'] ?? false };
  } catch {
    throw new CliError(`--url ist keine gültige Adresse: ${values.url}`, 1);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nf = new Intl.NumberFormat('de-DE');

/** One request with up to three retries on network errors and 5xx. */
async function call(o: Options, init: RequestInit): Promise<Record<string, unknown>> {
  const endpoint = new URL(ENDPOINT, o.url);
  for (let attempt = 1; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(endpoint, {
        ...init,
        headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json' },
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      if (attempt <= 3) {
        await sleep(1000 * attempt);
        continue;
      }
      throw new CliError(
        `Server nicht erreichbar (${endpoint.origin}): ${cause?.code ?? (error as Error).message}`,
        3,
      );
    }
    let body: Record<string, unknown> = {};
    try {
      body = (await res.json()) as Record<string, unknown>;
    } catch {
      // not JSON
    }
    if (res.ok) return body;
    const detail = typeof body.error === 'string' ? `: ${body.error}` : '';
    if (res.status >= 500 && attempt <= 3) {
      await sleep(1000 * attempt);
      continue;
    }
    if (res.status === 401 || res.status === 403)
      throw new CliError(`Zugriff verweigert (${res.status})${detail}. Prüfen Sie --token (Ops-Token).`, 2);
    throw new CliError(`Der Server antwortet mit ${res.status}${detail}`, 3);
  }
}

/** Calls one step until `done`; returns the summed counts of every answer. */
async function loop(
  o: Options,
  step: 'copy' | 'delete',
  out: NodeJS.WriteStream,
  label: (sum: Record<string, unknown>, phase: string) => string,
) {
  const sum: Record<string, unknown> = {};
  let cursor: string | undefined;
  let last: Record<string, unknown>;
  const tty = out.isTTY === true;
  do {
    last = await call(o, { method: 'POST', body: JSON.stringify({ step, ...(cursor ? { cursor } : {}) }) });
    for (const [kind, value] of Object.entries((step === 'copy' ? last.counts : last.deleted) ?? {})) {
      if (typeof value === 'number') sum[kind] = ((sum[kind] as number) ?? 0) + value;
      else {
        const s = (sum[kind] as KindCount) ?? { seen: 0, moved: 0, skipped: 0, missing: 0 };
        const c = value as KindCount;
        sum[kind] = {
          seen: s.seen + c.seen,
          moved: s.moved + c.moved,
          skipped: s.skipped + c.skipped,
          missing: s.missing + c.missing,
        };
      }
    }
    if (typeof last.kept === 'number') sum.kept = ((sum.kept as number) ?? 0) + last.kept;
    cursor = typeof last.cursor === 'string' ? last.cursor : undefined;
    const line = label(sum, String(last.phase));
    out.write(tty ? `\r${line}` : `${line}\n`);
  } while (!last.done);
  if (tty) out.write('\n');
  return { sum, last };
}

/** The count check as a table; true when every kind adds up. */
export function countCheck(
  counts: Record<string, KindCount>,
  rows: Record<string, number>,
): { ok: boolean; text: string } {
  const head = ['Art', 'KV-Schlüssel', 'nach D1', 'nicht übernommen', 'fehlt in D1'];
  const body = Object.entries(counts).map(([kind, c]) =>
    [kind, c.seen, c.moved, c.skipped, c.missing].map(String),
  );
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const fmt = (r: string[]) =>
    r.map((cell, i) => (i ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ');
  const bad = Object.entries(counts).filter(([, c]) => c.missing > 0 || c.seen !== c.moved + c.skipped);
  const text = [
    fmt(head),
    ...body.map(fmt),
    '',
    `Zeilen in D1: ${Object.entries(rows)
      .map(([t, n]) => `${t} ${nf.format(n)}`)
      .join(', ')}`,
    bad.length ? `Stimmt nicht für: ${bad.map(([k]) => k).join(', ')}` : 'Zählprüfung: alles übernommen.',
  ].join('\n');
  return { ok: bad.length === 0, text };
}

export async function runMigration(o: Options, out: NodeJS.WriteStream = process.stderr): Promise<void> {
  out.write('Kopiere von KV nach D1 …\n');
  const copy = await loop(o, 'copy', out, (sum, phase) => {
    const lead = (sum.lead as KindCount | undefined) ?? { seen: 0, moved: 0 };
    return `  Phase ${phase.padEnd(10)} · ${nf.format(lead.seen)} Leads gelesen · ${nf.format(lead.moved)} in D1`;
  });
  const check = await call(o, { method: 'GET' });
  const { ok, text } = countCheck(
    copy.sum as Record<string, KindCount>,
    (check.rows ?? {}) as Record<string, number>,
  );
  out.write(`\n${text}\n`);
  if (typeof copy.last.pointer === 'number') out.write(`Live-Version der Seite (D1): ${copy.last.pointer}\n`);
  if (!ok)
    throw new CliError('Die Zählprüfung stimmt nicht; KV bleibt unverändert. Bitte erneut ausführen.', 4);
  if (o.keepKv) {
    out.write('--keep-kv: KV bleibt unverändert; später ohne --keep-kv erneut ausführen, um zu löschen.\n');
    return;
  }
  out.write('\nLösche die personenbezogenen Schlüssel in KV …\n');
  const del = await loop(o, 'delete', out, (sum, phase) => {
    const n = Object.entries(sum).reduce((a, [k, v]) => (k === 'kept' ? a : a + (v as number)), 0);
    return `  Phase ${phase.padEnd(10)} · ${nf.format(n)} Schlüssel gelöscht`;
  });
  const kept = (del.sum.kept as number | undefined) ?? 0;
  if (kept > 0)
    throw new CliError(
      `${nf.format(kept)} Lead-Einträge blieben in KV, weil sie in D1 fehlen; bitte erneut ausführen.`,
      4,
    );
  out.write('Fertig: In KV ist nichts Personenbezogenes mehr.\n');
}

async function main() {
  try {
    await runMigration(parseOptions(process.argv.slice(2)));
  } catch (error) {
    if (error instanceof CliError) {
      (error.code === 0 ? process.stdout : process.stderr).write(`${error.message}\n`);
      process.exit(error.code);
    }
    process.stderr.write(`Unerwarteter Fehler: ${(error as Error).stack ?? error}\n`);
    process.exit(3);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) void main();
