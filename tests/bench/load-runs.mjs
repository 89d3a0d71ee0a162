/**
 * The load bench's runs (tests/bench/load.mjs): the baseline worker's server, autocannon
 * runs of `POST /api/register` with a new address and client address per request (and a
 * proof-of-work solution for the app), repeats and double submits, `GET /` runs, and the
 * medians over rounds.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { fetchSolutions } from './altcha.mjs';
import { median } from './stats.mjs';
import { wranglerD1 } from '../../scripts/d1-local.mjs';
import { QUIET_ENV, startPreview } from '../helpers/server.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const BASELINE_DIR = join(HERE, 'baseline-worker');
const VITE = join(HERE, '../../node_modules/vite/bin/vite.js');
const SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 4);

// --- the baseline server -------------------------------------------------------------

/** Builds and previews the baseline worker with the same plugin and workerd as the app. */
export async function startBaseline(port) {
  const build = spawnSync(process.execPath, [VITE, 'build', '--logLevel', 'warn'], {
    cwd: BASELINE_DIR,
    env: { ...process.env, ...QUIET_ENV },
    encoding: 'utf8',
  });
  if (build.status !== 0) throw new Error(`baseline build failed:\n${build.stdout}${build.stderr}`);
  const persistDir = mkdtempSync(join(tmpdir(), 'bench-baseline-'));
  const removeDir = () => rmSync(persistDir, { recursive: true, force: true });
  const migrate = async () =>
    wranglerD1(['migrations', 'apply', 'DB'], {
      persistTo: persistDir,
      config: join(BASELINE_DIR, 'wrangler.toml'),
      quiet: true,
    });
  const preview = await migrate()
    .then(() =>
      startPreview({ cwd: BASELINE_DIR, port, env: { WEBINAR_PERSIST_DIR: persistDir }, onExit: removeDir }),
    )
    .catch((error) => {
      removeDir();
      throw new Error(`baseline did not start: ${error.message}`);
    });
  return {
    url: preview.url,
    stop: async () => {
      try {
        await preview.stop();
      } finally {
        preview.detach();
        removeDir();
      }
    },
  };
}

// --- load runs -----------------------------------------------------------------------

let ipSeq = 0;
/** A distinct client IP per request (10.0.0.1 … 10.255.255.254), as a header value only. */
export function nextIp() {
  ipSeq = (ipSeq % 16_777_000) + 1;
  return `10.${(ipSeq >> 16) & 255}.${(ipSeq >> 8) & 255}.${ipSeq & 255}`;
}

/**
 * One autocannon run of POST `path`, for SECONDS or for `amount` requests. Each request
 * gets a fresh address; `track.ok` collects the addresses answered 200/201. Since no
 * address repeats, the leads stored must be exactly `track.ok`. Posts to the app take
 * their proof-of-work solution from `solutions` (see `solved`).
 */
export async function registerRun(url, connections, tag, track, path = '/api/register', amount, solutions) {
  let seq = 0;
  // The rate is counted here, from the start to the last answer: autocannon ends a run on
  // its one-second tick, so its start/finish span rounds a fixed-amount run up to whole
  // seconds (every run of 796 requests read as 199 req/s, whatever the server did).
  const clock = { start: performance.now(), last: 0, answered: 0 };
  const result = await autocannon({
    url,
    connections,
    // A fixed number of requests ends with every answer received (a duration would cut
    // the last requests in flight: stored, but never answered, so not countable).
    ...(amount ? { amount: Math.max(amount, connections * 4) } : { duration: SECONDS }),
    pipelining: 1,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path,
        setupRequest: (req, context) => {
          seq += 1;
          context.email = `load.${tag}.${seq}@beispiel.de`;
          return {
            ...req,
            headers: {
              'content-type': 'application/json',
              'cf-connecting-ip': nextIp(),
              'x-bench-tag': 'new',
            },
            body: JSON.stringify({
              email: context.email,
              firstName: 'Last',
              privacy: true,
              newsletter: seq % 2 === 0,
              // The app's posts each spend a solution; the baseline's carry one of the same size.
              altcha: solutions ? solutions.pop() : DUMMY_ALTCHA,
            }),
          };
        },
        onResponse: (status, _body, context) => {
          clock.answered += 1;
          clock.last = performance.now();
          if (track && (status === 200 || status === 201)) track.ok.add(context.email);
        },
      },
    ],
  });
  return { ...summarise(result), rps: clock.answered / Math.max(0.001, (clock.last - clock.start) / 1000) };
}

/** About the length of a real solution, for the baseline's bodies. */
const DUMMY_ALTCHA = Buffer.from(JSON.stringify({ pad: 'x'.repeat(240) })).toString('base64');

/** Solutions for the next `amount` posts at `connections` (autocannon builds a few more). */
export const solved = (url, amount, connections) =>
  fetchSolutions(url, Math.max(amount, connections * 4) + connections + 10, { ipOf: nextIp });

/** `n` repeats of stored addresses, then `pairs` double submits of new ones, 10 at a time. */
export async function repeatsAndDoubles(url, stored, n, pairs, track) {
  const solutions = await fetchSolutions(url, n + 2 * pairs, { ipOf: nextIp });
  const post = (email, tag) =>
    fetch(`${url}/api/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'cf-connecting-ip': nextIp(), 'x-bench-tag': tag },
      body: JSON.stringify({ email, firstName: 'Last', privacy: true, altcha: solutions.pop() }),
    }).then(async (res) => {
      await res.arrayBuffer();
      if (res.status === 200) track.ok.add(email);
      return res.status;
    });
  const emails = [...stored];
  const statuses = [];
  for (let i = 0; i < n; i += 10)
    statuses.push(...(await Promise.all(emails.slice(i, i + 10).map((email) => post(email, 'repeat')))));
  for (let i = 0; i < pairs; i += 5)
    for (const pair of await Promise.all(
      Array.from({ length: Math.min(5, pairs - i) }, (_, k) => {
        const email = `load.double.${i + k}@beispiel.de`;
        return Promise.all([post(email, 'double'), post(email, 'double')]);
      }),
    ))
      statuses.push(...pair);
  return statuses;
}

export async function pageRun(url, connections) {
  return summarise(
    await autocannon({ url: url + '/', connections, duration: SECONDS, pipelining: 1, timeout: 10 }),
  );
}

/** Medians over rounds of (baseline, app[, floor, batch]) runs; errors and non-2xx summed. */
export function combine(pairs) {
  const side = (k) => ({
    rps: median(pairs.map((p) => p[k].rps)),
    p50: median(pairs.map((p) => p[k].p50)),
    p99: median(pairs.map((p) => p[k].p99)),
    total: pairs.reduce((s, p) => s + p[k].total, 0),
    errors: pairs.reduce((s, p) => s + p[k].errors, 0),
    non2xx: pairs.reduce((s, p) => s + p[k].non2xx, 0),
  });
  const out = {
    base: side('base'),
    ours: side('ours'),
    ratio: median(pairs.map((p) => p.ours.rps / p.base.rps)),
  };
  if (pairs[0].floor)
    Object.assign(out, {
      floor: side('floor'),
      batch: side('batch'),
      floorRatio: median(pairs.map((p) => p.floor.rps / p.base.rps)),
      batchRatio: median(pairs.map((p) => p.batch.rps / p.base.rps)),
      ofFloor: median(pairs.map((p) => p.ours.rps / p.floor.rps)),
    });
  return out;
}

function summarise(r) {
  return {
    // Requests over the run's wall time (autocannon's per-second average undercounts short runs).
    rps:
      r.requests.total / Math.max(0.001, (new Date(r.finish).getTime() - new Date(r.start).getTime()) / 1000),
    p50: r.latency.p50,
    p99: r.latency.p99,
    total: r.requests.total,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  };
}
