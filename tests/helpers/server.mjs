/**
 * Starts the BUILT app (dist/) in workerd through `vite preview`, for e2e tests and
 * benches.
 *
 * Each server gets its own local storage (a fresh temp dir passed to vite.config.ts as
 * WEBINAR_PERSIST_DIR, with the D1 migrations applied before the server starts, as
 * `npm run preview` does), so tests never see each other's data, and its own copy of dist/
 * (a snapshot taken at start), so a `vite build` that someone runs meanwhile cannot swap
 * the hashed assets away under a running test. The server runs in its own
 * process group (`setsid`) because vite spawns workerd as a child that outlives vite when
 * only vite is killed; `stop()` signals the whole group, and then fails when the server's
 * output holds an email address, an IP address or a test name (tests/helpers/personal-data.mjs).
 *
 * Assumes `npm run build` already ran.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyMigrations } from '../../scripts/d1-local.mjs';
import { personalDataIn, serverLines } from './personal-data.mjs';

/** Repository root (this file is tests/helpers/server.mjs). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Environment for child wrangler/vite processes on a machine without internet. */
export const QUIET_ENV = {
  WRANGLER_SEND_METRICS: 'false',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  WRANGLER_HIDE_BANNER: 'true',
  NO_COLOR: '1',
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Exit hooks of the servers of this process: one `exit` listener for all of them. */
const atExit = new Set();
const runExitHooks = () => {
  for (const hook of atExit) hook();
  atExit.clear();
};
process.once('exit', runExitHooks);
// workerd lives in its own session, so Ctrl-C on the test run does not reach it.
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
]) {
  process.once(signal, () => {
    runExitHooks();
    process.exit(code);
  });
}

/** Ports handed out by `nextPort` in this process, so two servers never share one. */
let portCursor = 0;

/**
 * A port from the range given by E2E_PORT_BASE (default 4300) and E2E_PORT_COUNT
 * (default 100), cycling, so every server of a run gets a different port.
 * @returns {number}
 */
export function nextPort() {
  const base = Number(process.env.E2E_PORT_BASE ?? 4300);
  const count = Number(process.env.E2E_PORT_COUNT ?? 100);
  const port = base + (portCursor % count);
  portCursor += 1;
  return port;
}

/**
 * Copies dist/ into a temp dir laid out like the repository as `vite preview` sees it:
 * the plugin finds the build through `.wrangler/deploy/config.json` under its working
 * directory, workerd wants the worker's modules below that directory, and the content
 * check in vite.config.ts reads `src/content/webinar.json` from it.
 * @param {Record<string, string>} [extraAssets] more static files for dist/client (name → content)
 * @param {string} [environment] overrides ENVIRONMENT from the build's .dev.vars
 * @returns {string} the directory to run `vite preview` in
 */
function snapshotDist(extraAssets = {}, environment) {
  const dir = mkdtempSync(join(tmpdir(), 'webinar-app-'));
  cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
  if (environment) {
    // Local secrets come from the build's .dev.vars, which also sets ENVIRONMENT.
    const devVars = join(dir, 'dist/webinar_landing/.dev.vars');
    const text = existsSync(devVars) ? readFileSync(devVars, 'utf8') : '';
    const line = `ENVIRONMENT="${environment}"`;
    writeFileSync(
      devVars,
      /^ENVIRONMENT\s*=.*$/m.test(text) ? text.replace(/^ENVIRONMENT\s*=.*$/m, line) : `${text}\n${line}\n`,
    );
  }
  for (const [name, body] of Object.entries(extraAssets)) {
    writeFileSync(join(dir, 'dist/client', name), body);
  }
  mkdirSync(join(dir, '.wrangler/deploy'), { recursive: true });
  // Written by `vite build`; its paths are relative (../../dist/…), so they hold in the copy.
  const deployConfig = join(ROOT, '.wrangler/deploy/config.json');
  if (existsSync(deployConfig)) cpSync(deployConfig, join(dir, '.wrangler/deploy/config.json'));
  else
    writeFileSync(
      join(dir, '.wrangler/deploy/config.json'),
      JSON.stringify({ configPath: '../../dist/webinar_landing/wrangler.json', auxiliaryWorkers: [] }),
    );
  mkdirSync(join(dir, 'src/content'), { recursive: true });
  cpSync(join(ROOT, 'src/content/webinar.json'), join(dir, 'src/content/webinar.json'));
  return dir;
}

/**
 * @typedef {object} RunningServer
 * @property {string} url        Origin without trailing slash, e.g. http://127.0.0.1:4300
 * @property {string} persistDir Directory holding this server's local storage (`<dir>/v3/kv`, `<dir>/v3/d1`)
 * @property {number} port
 * @property {() => string} output stdout+stderr of vite so far (for failure messages)
 * @property {() => Promise<void>} stop Kills vite and workerd; keeps persistDir for reading KV
 * @property {() => void} cleanup  Removes persistDir (call after stop when done reading; a
 *   persistDir that startServer created is removed at process exit anyway)
 */

/**
 * Start `vite preview` on the built app and wait until `/` answers.
 * `extraAssets` adds static files to the copy of dist/client (served by Workers Static
 * Assets like the real ones, e.g. the Lighthouse floor page). `environment` overrides the
 * ENVIRONMENT variable (`.dev.vars` says `development`; `production` gives the deployed
 * CSP and the isolate's HTML cache).
 * @param {{ port?: number, persistDir?: string, env?: Record<string,string>, timeoutMs?: number, extraAssets?: Record<string,string>, environment?: string }} [options]
 * @returns {Promise<RunningServer>}
 */
export async function startServer({
  port,
  persistDir,
  env = {},
  timeoutMs = 60_000,
  extraAssets,
  environment,
} = {}) {
  if (!existsSync(join(ROOT, 'dist/webinar_landing/wrangler.json'))) {
    throw new Error('dist/ is missing: run `npm run build` before the e2e tests or benches.');
  }
  port ??= nextPort();
  const ownPersistDir = !persistDir;
  persistDir ??= mkdtempSync(join(tmpdir(), 'webinar-kv-'));
  const appDir = snapshotDist(extraAssets, environment);
  // A crashed or forgetful test run must not leave the temp dirs behind either.
  const removeDirs = () => {
    rmSync(appDir, { recursive: true, force: true });
    if (ownPersistDir) rmSync(persistDir, { recursive: true, force: true });
  };
  try {
    applyMigrations({ persistTo: persistDir, quiet: true });
  } catch (error) {
    removeDirs();
    throw new Error(
      `applying the D1 migrations to ${persistDir} failed:\n${error.stdout ?? ''}${error.stderr ?? ''}`,
    );
  }
  const preview = await startPreview({
    cwd: appDir,
    port,
    configFile: join(ROOT, 'vite.config.ts'),
    env: { WEBINAR_PERSIST_DIR: persistDir, ...env },
    timeoutMs,
    onExit: removeDirs,
  }).catch((error) => {
    removeDirs();
    throw error;
  });

  return {
    url: preview.url,
    port,
    persistDir,
    output: preview.output,
    stop: async () => {
      try {
        await preview.stop();
      } finally {
        rmSync(appDir, { recursive: true, force: true });
      }
    },
    cleanup: () => {
      preview.detach();
      removeDirs();
      rmSync(persistDir, { recursive: true, force: true });
    },
  };
}

/**
 * `vite preview` in `cwd`, in its own process group, ready once `/` answers below 500.
 * `stop()` ends the whole group, then fails when the output (Vite, Miniflare, the worker's
 * console) holds personal data. `onExit` also runs when this process exits first.
 * @param {{ cwd: string, port: number, configFile?: string, env?: Record<string,string>, timeoutMs?: number, onExit?: () => void }} options
 */
export async function startPreview({
  cwd,
  port,
  configFile,
  env = {},
  timeoutMs = 60_000,
  onExit = () => {},
}) {
  const vite = join(ROOT, 'node_modules/vite/bin/vite.js');
  const child = spawn(
    'setsid',
    [
      process.execPath,
      vite,
      'preview',
      ...(configFile ? ['--config', configFile] : []),
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--strictPort',
    ],
    { cwd, env: { ...process.env, ...QUIET_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  let exited = null;
  child.on('exit', (code, signal) => (exited = { code, signal }));

  // setsid (without --fork) execs in place when it is not a group leader, so the child's
  // pid is the new process group id.
  const pgid = child.pid;
  const killGroup = (signal) => {
    try {
      process.kill(-pgid, signal);
    } catch {
      /* group already gone */
    }
  };
  const groupAlive = () => {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  };
  // A crashed or forgetful test run must not leave workerd behind.
  const exitHook = () => {
    killGroup('SIGKILL');
    onExit();
  };
  atExit.add(exitHook);

  const halt = async () => {
    if (groupAlive()) {
      killGroup('SIGTERM');
      for (let i = 0; i < 50 && groupAlive(); i++) await sleep(100);
      if (groupAlive()) {
        killGroup('SIGKILL');
        for (let i = 0; i < 20 && groupAlive(); i++) await sleep(100);
      }
    }
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) {
      await halt();
      throw new Error(`vite preview exited early (${JSON.stringify(exited)}):\n${log}`);
    }
    try {
      const res = await fetch(url + '/', { signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      if (res.status < 500) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await halt();
      throw new Error(`vite preview did not answer on ${url} within ${timeoutMs} ms:\n${log}`);
    }
    await sleep(250);
  }

  return {
    url,
    output: () => log,
    /** Stops the group; then fails on personal data in its output. */
    stop: async () => {
      await halt();
      const leaks = personalDataIn(serverLines(log));
      if (leaks.length)
        throw new Error(`personal data in the server's log (${url}):\n${leaks.slice(0, 10).join('\n')}`);
    },
    /** Forgets the exit hook (the caller has cleaned up itself). */
    detach: () => atExit.delete(exitHook),
  };
}
