/**
 * CPU per registration, an estimate (part of tests/bench/load.mjs). workerd freezes its
 * clocks while code runs (Spectre mitigation) and Miniflare reports no CPU time, so the
 * worker cannot time itself there. Instead the same built bundle
 * (dist/webinar_landing/index.js) runs in Node's V8 with bindings in memory: D1 from
 * d1-memory.mjs (the registration's batch, with the binding's JSON work), KV for the
 * config, always-yes limiters, queues that drop their messages, and Web Crypto computed on
 * the calling thread as workerd does (sync-subtle.mjs). The main thread's CPU time is read
 * around each of N sequential registrations of new addresses, their waitUntil work
 * included, then around repeats of earlier ones, and around the challenge request that
 * gets each its proof-of-work solution. That is CPU of our code plus V8, without I/O: an
 * estimate of what Cloudflare bills as CPU time, not a measurement on Cloudflare. A last
 * pass counts the binding calls (binding-counter.mjs); a smaller run with Node's own Web
 * Crypto (as the figures of decision 050 were made) is printed for comparison. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { solve } from './altcha.mjs';
import { bindingKinds, countingEnv, newCounts, subrequests } from './binding-counter.mjs';
import { BENCH_VARS } from './counting-server.mjs';
import { memoryD1 } from './d1-memory.mjs';
import { useSyncSubtle } from './sync-subtle.mjs';
import { fmt, percentile } from './stats.mjs';
import { ROOT } from '../helpers/server.mjs';

const CPU_RUNS = Number(process.env.BENCH_CPU_RUNS ?? 3000);
/** Registrations before the measured ones: JIT (TurboFan compiles in the background), key imports, caches. */
const WARM_UP = 500;
const COUNTED = 200;

/** A KV namespace in memory: the reads and writes the app makes of config and media. */
function memoryKv() {
  const data = new Map();
  return {
    data,
    async get(key, type) {
      if (Array.isArray(key))
        return new Map(await Promise.all(key.map(async (k) => [k, await this.get(k, type)])));
      const entry = data.get(key);
      if (!entry) return null;
      const as = typeof type === 'string' ? type : type?.type;
      return as === 'json' ? JSON.parse(entry.value) : entry.value;
    },
    async getWithMetadata(key, type) {
      const entry = data.get(key);
      return { value: entry ? await this.get(key, type) : null, metadata: entry?.metadata ?? null };
    },
    async put(key, value, options = {}) {
      data.set(key, { value: String(value), metadata: options.metadata });
    },
    async delete(key) {
      data.delete(key);
    },
    async list({ prefix = '' } = {}) {
      const keys = [...data.keys()].filter((k) => k.startsWith(prefix)).map((name) => ({ name }));
      return { keys, list_complete: true };
    },
  };
}

const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;
const processCpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
/**
 * CPU time of the main thread in ms (Linux schedstat, nanoseconds), the isolate's thread
 * alone, as Cloudflare bills it: not V8's helper threads, not Node's thread pool. The
 * kernel brings a running thread's counter up to date only when it sleeps or at a timer
 * tick (4 ms steps), but getrusage (`process.cpuUsage()`) updates the calling thread's
 * counter first, so it is called just before each reading.
 */
const threadCpuMs = existsSync(SCHEDSTAT)
  ? () => {
      process.cpuUsage();
      return Number(readFileSync(SCHEDSTAT, 'utf8').split(' ')[0]) / 1e6;
    }
  : processCpuMs;

/** A fresh instance of the built worker (its own module caches) and its env in memory. */
async function workerInMemory(instance) {
  const bundle = join(ROOT, 'dist/webinar_landing/index.js');
  const worker = (await import(`${pathToFileURL(bundle).href}?${instance}`)).default;
  const wrangler = JSON.parse(readFileSync(join(ROOT, 'dist/webinar_landing/wrangler.json'), 'utf8'));
  const devVars = readFileSync(join(ROOT, '.dev.vars.example'), 'utf8');
  const vars = Object.fromEntries(
    [...devVars.matchAll(/^([A-Z_]+)\s*=\s*"?([^"\n]*)"?$/gm)].map((m) => [m[1], m[2]]),
  );
  const shell = readFileSync(join(ROOT, 'dist/client/index.html'), 'utf8');
  const queue = () => ({ send: async () => {}, sendBatch: async () => {} });
  const yes = () => ({ limit: async () => ({ success: true }) });
  const env = {
    ...vars,
    ...wrangler.vars,
    ...BENCH_VARS,
    ENVIRONMENT: 'production',
    LEAD_KEY_SECRET: 'bench-lead-key-secret-0123456789abcdef',
    DB: memoryD1(),
    CONTENT: memoryKv(),
    LEGACY_LEADS: memoryKv(),
    REGISTER_LIMITER: yes(),
    CHALLENGE_LIMITER: yes(),
    ADMIN_AUTH_LIMITER: yes(),
    ASSETS: { fetch: async () => new Response(shell, { headers: { 'content-type': 'text/html' } }) },
    EMAIL: { send: async () => {} },
    MAIL_QUEUE: queue(),
    MAIL_DLQ: queue(),
  };
  return { worker, env, kinds: bindingKinds(wrangler) };
}

const range = (from, n) => Array.from({ length: n }, (_, k) => from + k);

/**
 * One pass on a fresh worker instance: warm-up, `runs` new addresses, then (if asked)
 * repeats of a third of them and `counted` more through counting bindings.
 */
async function pass(instance, { runs, repeats: withRepeats, counted: nCounted }) {
  const { worker, env, kinds } = await workerInMemory(instance);
  const waits = [];
  const ctx = { waitUntil: (p) => waits.push(p), passThroughOnException() {}, props: {} };
  const ipOf = (i) => `10.9.${(i >> 8) & 255}.${i & 255}`;
  // On Cloudflare the runtime parses the HTTP request before the worker runs; here Node's
  // Request constructor (undici, in JavaScript) would be most of the figure, so requests are
  // built before the measured window.
  const requestFor = (i, altcha) => {
    const body = JSON.stringify({ email: `cpu.${i}@beispiel.de`, firstName: 'Last', privacy: true, altcha });
    return new Request('https://webinar.example/api/register', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        // As a browser sends it (Node's Request would leave it out of the headers).
        'content-length': String(Buffer.byteLength(body)),
        'cf-connecting-ip': ipOf(i),
      },
      body,
    });
  };
  const challengeCpu = [];
  /** A solved challenge from the worker's own route; its request's CPU ms is kept. */
  const challenge = async (i) => {
    const req = new Request('https://webinar.example/api/register/challenge', {
      headers: { 'cf-connecting-ip': ipOf(i) },
    });
    const c = threadCpuMs();
    const res = await worker.fetch(req, env, ctx);
    const json = await res.json();
    await Promise.allSettled(waits.splice(0));
    challengeCpu.push(threadCpuMs() - c);
    if (res.status !== 200) throw new Error(`challenge answered ${res.status}`);
    return await solve(json);
  };
  const register = async (req, withEnv = env) => {
    const res = await worker.fetch(req, withEnv, ctx);
    await res.arrayBuffer();
    // The request's waitUntil work (queueing the confirmation mail) is billed to the same
    // invocation, so it is inside the measured window, and never spills into the next one.
    await Promise.allSettled(waits.splice(0));
    return res.status;
  };
  /** CPU ms of each registration of addresses `ids`, sorted, and the statuses answered. */
  const timed = async (ids) => {
    // Solutions first, outside the measured windows (the visitor's browser makes them).
    const solutions = [];
    for (const i of ids) solutions.push(await challenge(i));
    const cpu = [];
    const statuses = {};
    for (const [k, i] of ids.entries()) {
      const req = requestFor(i, solutions[k]);
      const c = threadCpuMs();
      const status = await register(req);
      cpu.push(threadCpuMs() - c);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
    return { cpu: cpu.sort((a, b) => a - b), statuses };
  };

  for (const i of range(1_000_000, WARM_UP)) await register(requestFor(i, await challenge(i)));
  challengeCpu.length = 0;
  const fresh = await timed(range(0, runs));
  // Repeats of addresses registered above, spread over them: within ten minutes of the
  // first, so no new confirmation is due and a repeat is the batch and the answer.
  const repeats = withRepeats ? await timed(range(0, Math.ceil(runs / 3)).map((k) => (k * 3) % runs)) : null;
  const counts = newCounts();
  const countingAt = countingEnv(env, kinds, counts);
  for (const i of range(2_000_000, nCounted)) await register(requestFor(i, await challenge(i)), countingAt);
  const stored = env.DB.data.leads.size;
  const ok =
    fresh.statuses[200] === runs &&
    (!repeats || repeats.statuses[200] === repeats.cpu.length) &&
    stored === WARM_UP + runs + nCounted;
  return { fresh, repeats, challenge: challengeCpu.sort((a, b) => a - b), counts, stored, ok };
}

const line = (label, cpu, statuses) =>
  `  ${label}: CPU p50 ${fmt(percentile(cpu, 50), 3)} ms, p90 ${fmt(percentile(cpu, 90), 3)} ms, ` +
  `p99 ${fmt(percentile(cpu, 99), 3)} ms, max ${fmt(cpu.at(-1), 3)} ms, ` +
  `${cpu.filter((x) => x >= 1).length} of ${cpu.length} at 1 ms or more` +
  (statuses ? `; statuses ${JSON.stringify(statuses)}` : '');

/**
 * Runs the estimate; logs its figures and returns them.
 * @param {(line?: string) => void} log
 */
export async function cpuPerRegistration(log) {
  // The worker logs one line per registration; keep them out of the bench output.
  const quiet = {};
  for (const level of ['log', 'info', 'warn', 'error']) {
    quiet[level] = console[level];
    console[level] = () => {};
  }
  let main, nodeCrypto;
  const restore = useSyncSubtle();
  try {
    main = await pass('sync-crypto', { runs: CPU_RUNS, repeats: true, counted: COUNTED });
    restore();
    nodeCrypto = await pass('node-crypto', { runs: Math.ceil(CPU_RUNS / 3), repeats: false, counted: 0 });
  } finally {
    restore();
    Object.assign(console, quiet);
  }
  const { fresh, repeats, challenge, counts, stored } = main;
  log(`  Node ${process.version} (V8), built bundle, D1 and KV in memory (d1-memory.mjs),`);
  log('  Web Crypto computed on the calling thread as workerd does (sync-subtle.mjs); main thread CPU:');
  log(line(`${CPU_RUNS} new addresses`, fresh.cpu, fresh.statuses));
  log(line(`${repeats.cpu.length} repeats`, repeats.cpu, repeats.statuses));
  log(line(`${challenge.length} challenge requests (GET /api/register/challenge)`, challenge));
  const per = (k) => counts[k] / COUNTED;
  log(
    `  ${COUNTED} more, counted at the binding: ${fmt(subrequests(counts) / COUNTED, 2)} subrequests each ` +
      `(D1 ${fmt(per('d1'), 2)} with ${fmt(counts.d1Statements / Math.max(1, counts.d1), 1)} statements, ` +
      `queue ${fmt(per('queue'), 2)}, KV ${fmt(per('kvRead') + per('kvWrite'), 2)}); apart: limiter ` +
      `${fmt(per('limiter'), 2)}, config reads ${fmt(per('configRead'), 3)}; ${stored} leads in memory`,
  );
  log(
    line(
      `for comparison, with Node's own Web Crypto (thread pool), ${nodeCrypto.fresh.cpu.length} new addresses`,
      nodeCrypto.fresh.cpu,
      nodeCrypto.fresh.statuses,
    ),
  );
  return {
    p50: percentile(fresh.cpu, 50),
    p99: percentile(fresh.cpu, 99),
    repeatP50: percentile(repeats.cpu, 50),
    repeatP99: percentile(repeats.cpu, 99),
    challengeP50: percentile(challenge, 50),
    challengeP99: percentile(challenge, 99),
    nodeCryptoP50: percentile(nodeCrypto.fresh.cpu, 50),
    nodeCryptoP99: percentile(nodeCrypto.fresh.cpu, 99),
    subrequests: subrequests(counts) / COUNTED,
    ok: main.ok && nodeCrypto.ok,
  };
}
