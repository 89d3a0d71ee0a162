/**
 * Reads the local KV that a `vite preview` server (see server.mjs) wrote, for e2e
 * assertions on stored leads.
 *
 * Uses the wrangler CLI (`kv key list|get --local --persist-to <dir>`): it reads the same
 * `<dir>/v3/kv` layout the Cloudflare Vite plugin writes, and works while the server is
 * still running (SQLite in WAL mode) as well as after it stopped. Binding names come from
 * wrangler.toml at the repository root.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './server.mjs';

const run = promisify(execFile);
const WRANGLER = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');

/**
 * Run `wrangler kv key …` against a persist dir and return stdout.
 * @param {string[]} args
 * @param {string} persistDir
 */
async function wranglerKv(args, persistDir) {
  const { stdout } = await run(
    process.execPath,
    [WRANGLER, 'kv', 'key', ...args, '--local', '--persist-to', persistDir],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        WRANGLER_SEND_METRICS: 'false',
        CLOUDFLARE_CF_FETCH_ENABLED: 'false',
        WRANGLER_HIDE_BANNER: 'true',
        NO_COLOR: '1',
      },
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  return stdout;
}

/**
 * Every key of a KV binding (default LEADS) with its metadata.
 * @param {string} persistDir
 * @param {{ binding?: string, prefix?: string }} [options]
 * @returns {Promise<Array<{ name: string, metadata?: any, expiration?: number }>>}
 */
export async function listKeys(persistDir, { binding = 'LEADS', prefix } = {}) {
  const args = ['list', '--binding', binding];
  if (prefix) args.push('--prefix', prefix);
  const out = await wranglerKv(args, persistDir);
  // wrangler may print a line or two before the JSON; the JSON array starts at the first '['.
  return JSON.parse(out.slice(out.indexOf('[')));
}

/**
 * The leads (`lead:*` keys) with their export metadata, text fields decoded as the export
 * reads them (stored percent-encoded, marked `x: 1`: worker/lead-store.ts, metadataOf).
 * @param {string} persistDir
 * @returns {Promise<Array<{ name: string, metadata: any }>>}
 */
export async function listLeads(persistDir) {
  const keys = await listKeys(persistDir, { prefix: 'lead:' });
  for (const key of keys) {
    const m = key.metadata;
    if (m?.x !== 1) continue;
    for (const k of ['e', 'n', 'us', 'um', 'uc'])
      if (typeof m[k] === 'string') m[k] = decodeURIComponent(m[k]);
  }
  return keys;
}

/**
 * One value of a KV binding (default LEADS), parsed as JSON when it is JSON; null if absent.
 * @param {string} persistDir
 * @param {string} name
 * @param {{ binding?: string }} [options]
 */
export async function getKey(persistDir, name, { binding = 'LEADS' } = {}) {
  let out;
  try {
    out = await wranglerKv(['get', name, '--binding', binding, '--text'], persistDir);
  } catch (error) {
    if (/not found/i.test(String(error?.stdout) + String(error?.stderr))) return null;
    throw error;
  }
  if (/^Value not found/i.test(out.trim())) return null;
  try {
    return JSON.parse(out);
  } catch {
    return out;
  }
}

/**
 * The full lead record stored under `name` (e.g. `lead:<hash>`), or null.
 * @param {string} persistDir
 * @param {string} name
 */
export function getLead(persistDir, name) {
  return getKey(persistDir, name);
}
