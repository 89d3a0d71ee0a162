/**
 * Reads the local D1 database that a `vite preview` server (see server.mjs) writes, for
 * e2e assertions on stored rows: `wrangler d1 execute DB --local --persist-to <dir>`
 * reads the same `<dir>/v3/d1` layout the Cloudflare Vite plugin writes, while the
 * server runs as well as after it stopped. The binding comes from wrangler.toml.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { QUIET_ENV, ROOT } from './server.mjs';

const run = promisify(execFile);
const WRANGLER = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');

/**
 * The rows one SQL statement returns from the server's local D1.
 * @param {string} persistDir the server's persist dir
 * @param {string} sql one statement (no user input: tests only)
 * @returns {Promise<Record<string, unknown>[]>}
 */
export async function queryD1(persistDir, sql) {
  const { stdout } = await run(
    process.execPath,
    [WRANGLER, 'd1', 'execute', 'DB', '--local', '--persist-to', persistDir, '--json', '--command', sql],
    { cwd: ROOT, env: { ...process.env, ...QUIET_ENV }, maxBuffer: 64 * 1024 * 1024 },
  );
  // wrangler may print a line before the JSON; the JSON array starts at the first '['.
  const [first] = JSON.parse(stdout.slice(stdout.indexOf('[')));
  return first.results;
}

/** A string as an SQL literal (test data only). */
const literal = (s) => `'${String(s).replace(/'/g, "''")}'`;

/**
 * The lead stored for an address (compared as typed, case folded) with its consents, as
 * rows of the server's local D1; null when there is none.
 * @param {string} persistDir
 * @param {string} email
 * @returns {Promise<{ lead: Record<string, any>, consents: Record<string, any>[] } | null>}
 */
export async function leadWithConsents(persistDir, email) {
  const [lead] = await queryD1(
    persistDir,
    `SELECT * FROM leads WHERE lower(email) = lower(${literal(email)})`,
  );
  if (!lead) return null;
  const consents = await queryD1(
    persistDir,
    `SELECT * FROM consents WHERE lead_id = ${literal(lead.id)} ORDER BY id`,
  );
  return { lead, consents };
}

/**
 * How many leads' addresses start with a prefix.
 * @param {string} persistDir
 * @param {string} prefix
 */
export async function leadsStartingWith(persistDir, prefix) {
  const [row] = await queryD1(
    persistDir,
    `SELECT COUNT(*) AS n FROM leads WHERE lower(email) LIKE lower(${literal(prefix.replace(/[%_]/g, ''))}) || '%'`,
  );
  return row.n;
}
