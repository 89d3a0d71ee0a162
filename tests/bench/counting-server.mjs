/**
 * The built app in `vite preview` (workerd, local D1, KV, queues and rate limits), with
 * its bindings counted (counting-entry.mjs, binding-counter.mjs), for the load and launch
 * benches. As deployed: ENVIRONMENT=production (the isolate's page cache, no dev outbox).
 *
 * Like tests/helpers/server.mjs's startServer it runs a snapshot of dist/ in a temp dir
 * with its own persist dir, but the snapshot's worker `main` is the counting entry, which
 * imports the build's unchanged index.js. The D1 migrations are applied to the persist dir
 * before the server starts.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bindingKinds } from './binding-counter.mjs';
import { applyMigrations } from '../../scripts/d1-local.mjs';
import { queryD1 } from '../helpers/d1.mjs';
import { ROOT, startPreview } from '../helpers/server.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ENTRY = 'counting-entry.mjs';

/**
 * What the benches set, whatever the local .dev.vars says. The proof of work costs the
 * visitor's browser, never the server (checking a solution is one SHA-256 whatever the
 * cost), so the benches solve the cheapest challenge the app allows (altcha.mjs). The
 * mail budgets and the attack-mode threshold are those of local development
 * (.dev.vars.example): every confirmation is sent at once, as a launch needs them sent
 * eventually; deployed, the hourly budgets pace them (decision 069).
 */
export const BENCH_VARS = {
  ALTCHA_MAX_NUMBER: '10',
  MAIL_PER_DOMAIN_HOURLY: '100000',
  MAIL_GLOBAL_HOURLY: '100000',
  ATTACK_REFUSALS_10MIN: '1000000',
};

/** A copy of dist/ whose worker entry is the counting entry; returns the dir to preview in. */
function countingSnapshot(vars, consumers) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-app-'));
  cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
  const out = join(dir, 'dist/webinar_landing');
  const wranglerPath = join(out, 'wrangler.json');
  const wrangler = JSON.parse(readFileSync(wranglerPath, 'utf8'));
  if (wrangler.main !== 'index.js') throw new Error(`unexpected worker main in the build: ${wrangler.main}`);
  for (const file of [ENTRY, 'binding-counter.mjs']) cpSync(join(HERE, file), join(out, file));
  writeFileSync(
    join(out, 'bench-bindings.mjs'),
    `export default ${JSON.stringify(bindingKinds(wrangler))};\n`,
  );
  // Without consumers the queues only fill: for figures of the request path alone.
  const queues = consumers ? wrangler.queues : { ...wrangler.queues, consumers: [] };
  writeFileSync(wranglerPath, JSON.stringify({ ...wrangler, main: ENTRY, queues }));
  // Local secrets and vars come from the build's .dev.vars (which says development and
  // wins over [vars]): the overrides go there.
  const devVars = join(out, '.dev.vars');
  const overrides = { ...BENCH_VARS, ...vars, ENVIRONMENT: 'production' };
  let text = existsSync(devVars) ? readFileSync(devVars, 'utf8') : '';
  for (const name of Object.keys(overrides)) text = text.replace(new RegExp(`^${name}\\s*=.*$`, 'gm'), '');
  const lines = Object.entries(overrides).map(([name, value]) => `${name}=${JSON.stringify(value)}`);
  writeFileSync(devVars, `${text}\n${lines.join('\n')}\n`);
  // What `vite preview` looks for under its working directory (see server.mjs).
  mkdirSync(join(dir, '.wrangler/deploy'), { recursive: true });
  writeFileSync(
    join(dir, '.wrangler/deploy/config.json'),
    JSON.stringify({ configPath: '../../dist/webinar_landing/wrangler.json', auxiliaryWorkers: [] }),
  );
  mkdirSync(join(dir, 'src/content'), { recursive: true });
  cpSync(join(ROOT, 'src/content/webinar.json'), join(dir, 'src/content/webinar.json'));
  return dir;
}

/**
 * `read()` again while the running server's SQLite file is locked by a write (the mail
 * consumer still at work answers SQLITE_BUSY to wrangler's reader), up to 20 times.
 */
async function busyRetried(read) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (attempt >= 20 || !/SQLITE_BUSY|database is locked/.test(`${error.stderr ?? ''}${error.message}`))
        throw error;
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}

/** Counts of the worker's warn and error log lines by event, e.g. `error mail.enqueue_failed`. */
export function loggedEvents(output) {
  const counts = {};
  for (const m of output.matchAll(/^\{"level":"(warn|error)","event":"([^"]+)"/gm))
    counts[`${m[1]} ${m[2]}`] = (counts[`${m[1]} ${m[2]}`] ?? 0) + 1;
  // Miniflare's and workerd's own complaints (hanging promises, overloaded objects).
  for (const m of output.matchAll(/(overloaded|hanging Promise|Network connection lost|exceeded)/gi))
    counts[`runtime ${m[1].toLowerCase()}`] = (counts[`runtime ${m[1].toLowerCase()}`] ?? 0) + 1;
  return counts;
}

/**
 * Starts the counting app on `port` with a fresh, migrated persist dir; `vars` override
 * the build's vars and .dev.vars (after BENCH_VARS); `consumers: false` leaves the queues
 * without their consumers (the mail and webhook work then never runs).
 * @param {{ port: number, vars?: Record<string, string>, consumers?: boolean }} options
 */
export async function startCountingServer({ port, vars = {}, consumers = true }) {
  if (!existsSync(join(ROOT, 'dist/webinar_landing/wrangler.json')))
    throw new Error('dist/ is missing: run `npm run build` first');
  const persistDir = mkdtempSync(join(tmpdir(), 'bench-state-'));
  const appDir = countingSnapshot(vars, consumers);
  const removeDirs = () => {
    rmSync(appDir, { recursive: true, force: true });
    rmSync(persistDir, { recursive: true, force: true });
  };
  let preview;
  try {
    applyMigrations({ persistTo: persistDir, quiet: true });
    preview = await startPreview({
      cwd: appDir,
      port,
      configFile: join(ROOT, 'vite.config.ts'),
      env: { WEBINAR_PERSIST_DIR: persistDir },
      onExit: removeDirs,
    });
  } catch (error) {
    removeDirs();
    throw error;
  }
  const url = preview.url;
  return {
    url,
    persistDir,
    output: preview.output,
    /** The tallies of counting-entry.mjs. */
    calls: async () => {
      const res = await fetch(`${url}/__bench/calls`);
      const text = await res.text();
      if (res.ok) return JSON.parse(text);
      const errors = preview
        .output()
        .split('\n')
        .filter((l) => /error|crash|abort/i.test(l));
      throw new Error(
        `the counting server answered ${res.status} (${text.slice(0, 120)}…); its last errors:\n` +
          errors.slice(-10).join('\n'),
      );
    },
    resetCalls: async () => void (await fetch(`${url}/__bench/calls/reset`, { method: 'POST' })).json(),
    /** Warnings and errors the worker logged so far, counted by event (`level`/`event` JSON lines). */
    events: () => loggedEvents(preview.output()),
    /** Rows of a query against the server's D1, read while it runs (see `busyRetried`). */
    query: (sql) => busyRetried(() => queryD1(persistDir, sql)),
    /** Stops vite and workerd (fails on personal data in their output), removes the dirs. */
    stop: async () => {
      try {
        await preview.stop();
      } finally {
        preview.detach();
        removeDirs();
      }
    },
  };
}
