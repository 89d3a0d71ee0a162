/**
 * `npm run leads:export -- --url <base> --token <ops token> --out leads.csv
 *  [--format csv|excel|ndjson] [--since YYYY-MM-DD|ISO] [--status pending|confirmed|unsubscribed] [--giveaway]`
 *
 * Pulls the streamed export from `GET /api/admin/leads` (the same API as the dashboard)
 * into a temp file next to `--out` and renames it only when the download completed, so a
 * failure never leaves a partial file behind. On a TTY it shows a progress line (leads so
 * far, rate). Exit codes: 0 done, 1 usage, 2 refused by the server (auth, bad filter),
 * 3 network or server failure. The token can also come from LEADS_EXPORT_TOKEN, so it
 * does not have to appear in the shell history.
 */
import * as v from 'valibot';
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';

const USAGE = `Aufruf: npm run leads:export -- --url <https://…> --token <Ops-Token> --out <datei>
          [--format csv|excel|ndjson] [--since JJJJ-MM-TT] [--status pending|confirmed|unsubscribed] [--giveaway]`;

class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * The server's address: https, or http only to this machine. Leads (addresses, names)
 * and the ops token must never cross a network in clear text.
 */
export const ExportUrl = v.pipe(
  v.string(),
  v.check(
    (s) => URL.canParse(s),
    (i) => `--url ist keine gültige Adresse: ${String(i.input)}`,
  ),
  v.transform((s) => new URL(s)),
  v.check(
    (u) => u.protocol === 'https:' || (u.protocol === 'http:' && LOCAL_HOSTS.has(u.hostname)),
    '--url muss mit https:// beginnen (http:// nur für localhost), damit Token und Leads verschlüsselt übertragen werden.',
  ),
);

interface Options {
  url: URL;
  token: string;
  out: string;
  format: 'csv' | 'excel' | 'ndjson';
  since?: string;
  status?: string;
  giveaway: boolean;
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        out: { type: 'string' },
        format: { type: 'string' },
        since: { type: 'string' },
        status: { type: 'string' },
        giveaway: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (error) {
    throw new CliError(`${(error as Error).message}\n${USAGE}`, 1);
  }
  if (values.help) throw new CliError(USAGE, 0);
  const token = values.token ?? env.LEADS_EXPORT_TOKEN;
  if (!values.url || !token || !values.out)
    throw new CliError(`--url, --token (oder LEADS_EXPORT_TOKEN) und --out sind nötig.\n${USAGE}`, 1);
  const checked = v.safeParse(ExportUrl, values.url);
  if (!checked.success) throw new CliError(checked.issues[0].message, 1);
  const url = checked.output;
  const format = (values.format ?? (values.out.endsWith('.ndjson') ? 'ndjson' : 'csv')) as Options['format'];
  if (!['csv', 'excel', 'ndjson'].includes(format))
    throw new CliError(`Unbekanntes Format „${format}“. Erlaubt: csv, excel, ndjson.`, 1);
  return {
    url,
    token,
    out: resolve(values.out),
    format,
    since: values.since,
    status: values.status,
    giveaway: values.giveaway ?? false,
  };
}

/** Counts records in the byte stream: newline-terminated lines, CSV newlines inside quotes excluded. */
export class RecordCounter extends Transform {
  records = 0;
  bytes = 0;
  private inQuotes = false;
  constructor(private readonly csv: boolean) {
    super();
  }
  _transform(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null, data?: Buffer) => void) {
    this.bytes += chunk.length;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (this.csv && b === 0x22) this.inQuotes = !this.inQuotes;
      else if (b === 0x0a && !this.inQuotes) this.records += 1;
    }
    done(null, chunk);
  }
}

function progressLine(leads: number, startedMs: number, bytes: number): string {
  const seconds = Math.max(0.001, (Date.now() - startedMs) / 1000);
  const nf = new Intl.NumberFormat('de-DE', { maximumFractionDigits: 1 });
  return `  ${nf.format(leads)} Leads · ${nf.format(leads / seconds)} Leads/s · ${nf.format(bytes / 1e6)} MB`;
}

export async function runExport(o: Options, out: NodeJS.WriteStream = process.stderr): Promise<number> {
  const query = new URLSearchParams({ format: o.format });
  if (o.since) query.set('since', o.since);
  if (o.status) query.set('status', o.status);
  if (o.giveaway) query.set('giveaway', '1');
  const endpoint = new URL(`/api/admin/leads?${query}`, o.url);

  let res: Response;
  try {
    res = await fetch(endpoint, { headers: { authorization: `Bearer ${o.token}` } });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new CliError(
      `Server nicht erreichbar (${endpoint.origin}): ${cause?.code ?? cause?.message ?? (error as Error).message}`,
      3,
    );
  }
  if (!res.ok) {
    let detail = '';
    try {
      detail = (((await res.json()) as { error?: string }).error ?? '').replace(/\.$/, '');
    } catch {
      // not JSON
    }
    if (res.status === 401 || res.status === 403)
      throw new CliError(
        `Zugriff verweigert (${res.status})${detail ? `: ${detail}` : ''}. Prüfen Sie --token (Ops-Token).`,
        2,
      );
    if (res.status === 400) throw new CliError(`Ungültige Anfrage: ${detail || res.statusText}`, 2);
    throw new CliError(`Der Server antwortet mit ${res.status}${detail ? `: ${detail}` : ''}.`, 3);
  }
  if (!res.body) throw new CliError('Der Server hat keine Daten geschickt.', 3);

  const tmp = join(dirname(o.out), `.${basename(o.out)}.${process.pid}.partial`);
  const counter = new RecordCounter(o.format !== 'ndjson');
  const started = Date.now();
  const tty = out.isTTY === true;
  const headerRows = o.format === 'ndjson' ? 0 : 1;
  const leads = () => Math.max(0, counter.records - headerRows);
  const timer = tty
    ? setInterval(() => out.write(`\r${progressLine(leads(), started, counter.bytes)}`), 200)
    : null;
  const cleanup = () => rmSync(tmp, { force: true });
  const onSignal = () => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  try {
    await pipeline(
      Readable.fromWeb(res.body as import('node:stream/web').ReadableStream),
      counter,
      createWriteStream(tmp),
    );
    renameSync(tmp, o.out);
  } catch (error) {
    cleanup();
    throw new CliError(
      `Der Download brach ab; es wurde keine Datei geschrieben (${(error as Error).message}).`,
      3,
    );
  } finally {
    if (timer) clearInterval(timer);
    process.off('SIGINT', onSignal);
  }
  if (tty) out.write(`\r${progressLine(leads(), started, counter.bytes)}\n`);
  out.write(`${leads()} Leads nach ${o.out} geschrieben.\n`);
  return leads();
}

async function main() {
  try {
    await runExport(parseOptions(process.argv.slice(2)));
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
