/**
 * Applies migrations/ to the local D1 database before a local server starts: `npm start`
 * and `npm run preview` run this first, the e2e servers and benches call `applyMigrations`
 * for their own persist dirs. Locally D1 lives under `.wrangler/state/v3/d1`, or under
 * `$WEBINAR_PERSIST_DIR/v3/d1` when that is set (vite.config.ts reads the same variable).
 * Applied migrations are recorded in the database, so a second run changes nothing.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const WRANGLER = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
const QUIET = {
  WRANGLER_SEND_METRICS: 'false',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  WRANGLER_HIDE_BANNER: 'true',
  NO_COLOR: '1',
};

/**
 * Runs `wrangler d1 … --local`, by default in the repository with its wrangler.toml.
 * `config` names another wrangler.toml (for `d1 export`, which has no --persist-to and
 * reads `.wrangler/state` beside its config).
 * @param {string[]} args wrangler arguments after `d1`
 * @param {{ persistTo?: string, config?: string, quiet?: boolean }} [options]
 * @returns {string} wrangler's output when quiet, else ''
 */
export function wranglerD1(args, { persistTo, config, quiet = false } = {}) {
  const out = execFileSync(
    process.execPath,
    [
      WRANGLER,
      'd1',
      ...args,
      '--local',
      ...(persistTo ? ['--persist-to', persistTo] : []),
      ...(config ? ['--config', config] : []),
    ],
    {
      cwd: config ? dirname(config) : ROOT,
      env: { ...process.env, ...QUIET },
      stdio: quiet ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'],
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return out ?? '';
}

/**
 * Applies every pending migration to the local `DB`.
 * @param {{ persistTo?: string, quiet?: boolean }} [options] persistTo: the server's persist
 *   dir (as WEBINAR_PERSIST_DIR); default `.wrangler/state`
 */
export function applyMigrations(options = {}) {
  return wranglerD1(['migrations', 'apply', 'DB'], options);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const persistTo = process.env.WEBINAR_PERSIST_DIR || undefined;
  try {
    applyMigrations({ persistTo, quiet: true });
    console.log(`Local D1 is up to date (${persistTo ?? '.wrangler/state'}).`);
  } catch (error) {
    console.error(
      `Applying the D1 migrations failed:\n${error.stdout ?? ''}${error.stderr ?? error.message}`,
    );
    process.exit(1);
  }
}
