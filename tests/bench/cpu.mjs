/**
 * CPU per registration, an estimate (part of tests/bench/load.mjs). workerd freezes its
 * clocks while code runs (Spectre mitigation) and Miniflare reports no CPU time, so the
 * worker cannot time itself there. Instead the same built bundle
 * (dist/webinar_landing/index.js) runs in Node's V8 with bindings in memory: D1 from
 * d1-memory.mjs (the registration's batch, with the binding's JSON work), KV for the
 * config, an always-yes limiter, a queue that drops its messages. The main thread's CPU
 * time (Linux schedstat) is read around each of N sequential registrations of new
 * addresses, their waitUntil work included, then around repeats of earlier ones. That is
 * CPU of our code plus V8, without I/O: an estimate of what Cloudflare bills as CPU time,
 * not a measurement on Cloudflare. A last pass counts the binding calls (binding-counter.mjs).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bindingKinds, countingEnv, newCounts, subrequests } from './binding-counter.mjs';
import { memoryD1 } from './d1-memory.mjs';
import { fmt, percentile } from './stats.mjs';
import { ROOT } from '../helpers/server.mjs';

const CPU_RUNS = Number(process.env.BENCH_CPU_RUNS ?? 3000);
const WARM_UP = 200;
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
/**
 * CPU time of the main thread in ms, from the kernel's exact runtime counter (Linux
 * schedstat, nanoseconds). Not `process.cpuUsage()`: that adds every thread of the process,
 * and Node runs WebCrypto on its thread pool, so each HMAC's hand-off to another thread and
 * back (spin and wake-ups, slow on a VM) would count, while workerd signs on the isolate's
 * own thread. GC on the main thread is included; the HMAC itself (~0.03 ms) is not.
 */
const threadCpuMs = existsSync(SCHEDSTAT)
  ? () => Number(readFileSync(SCHEDSTAT, 'utf8').split(' ')[0]) / 1e6
  : () => {
      const { user, system } = process.cpuUsage();
      return (user + system) / 1000;
    };

/** The built worker and its env in memory. */
async function workerInMemory() {
  const bundle = join(ROOT, 'dist/webinar_landing/index.js');
  const worker = (await import(pathToFileURL(bundle).href)).default;
  const wrangler = JSON.parse(readFileSync(join(ROOT, 'dist/webinar_landing/wrangler.json'), 'utf8'));
  const devVars = readFileSync(join(ROOT, '.dev.vars.example'), 'utf8');
  const vars = Object.fromEntries(
    [...devVars.matchAll(/^([A-Z_]+)\s*=\s*"?([^"\n]*)"?$/gm)].map((m) => [m[1], m[2]]),
  );
  const shell = readFileSync(join(ROOT, 'dist/client/index.html'), 'utf8');
  const queue = () => ({ send: async () => {}, sendBatch: async () => {} });
  const env = {
    ...vars,
    ...wrangler.vars,
    ENVIRONMENT: 'production',
    LEAD_KEY_SECRET: 'bench-lead-key-secret-0123456789abcdef',
    DB: memoryD1(),
    CONTENT: memoryKv(),
    LEGACY_LEADS: memoryKv(),
    REGISTER_LIMITER: { limit: async () => ({ success: true }) },
    ADMIN_AUTH_LIMITER: { limit: async () => ({ success: true }) },
    ASSETS: { fetch: async () => new Response(shell, { headers: { 'content-type': 'text/html' } }) },
    EMAIL: { send: async () => {} },
    MAIL_QUEUE: queue(),
    MAIL_DLQ: queue(),
  };
  return { worker, env, wrangler };
}

/**
 * Runs the estimate; logs its figures and returns them.
 * @param {(line?: string) => void} log
 */
export async function cpuPerRegistration(log) {
  const { worker, env, wrangler } = await workerInMemory();
  const waits = [];
  const ctx = { waitUntil: (p) => waits.push(p), passThroughOnException() {}, props: {} };
  // On Cloudflare the runtime parses the HTTP request before the worker runs; here Node's
  // Request constructor (undici, in JavaScript) would be most of the figure, so requests are
  // built before the measured window.
  const requestFor = (i) => {
    const body = JSON.stringify({ email: `cpu.${i}@beispiel.de`, firstName: 'Last', privacy: true });
    return new Request('https://webinar.example/api/register', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        // As a browser sends it (Node's Request would leave it out of the headers).
        'content-length': String(Buffer.byteLength(body)),
        'cf-connecting-ip': `10.9.${(i >> 8) & 255}.${i & 255}`,
      },
      body,
    });
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
    const cpu = [];
    const statuses = {};
    for (const i of ids) {
      const req = requestFor(i);
      const c = threadCpuMs();
      const status = await register(req);
      cpu.push(threadCpuMs() - c);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
    return { cpu: cpu.sort((a, b) => a - b), statuses };
  };
  const range = (from, n) => Array.from({ length: n }, (_, k) => from + k);

  // The worker logs one line per registration; keep them out of the bench output.
  const quiet = {};
  for (const level of ['log', 'info', 'warn', 'error']) {
    quiet[level] = console[level];
    console[level] = () => {};
  }
  let fresh, repeats;
  const counts = newCounts();
  try {
    for (const i of range(1_000_000, WARM_UP)) await register(requestFor(i)); // JIT, key import, caches
    fresh = await timed(range(0, CPU_RUNS));
    // Repeats of addresses registered above, spread over them (no mail claims in memory, so
    // each asks for a resend: the longest repeat path).
    repeats = await timed(range(0, Math.ceil(CPU_RUNS / 3)).map((k) => (k * 3) % CPU_RUNS));
    const counted = countingEnv(env, bindingKinds(wrangler), counts);
    for (const i of range(2_000_000, COUNTED)) await register(requestFor(i), counted);
  } finally {
    Object.assign(console, quiet);
  }

  const stored = env.DB.data.leads.size;
  const expected = WARM_UP + CPU_RUNS + COUNTED;
  const line = (label, { cpu, statuses }) =>
    `  ${label}: CPU p50 ${fmt(percentile(cpu, 50), 3)} ms, p90 ${fmt(percentile(cpu, 90), 3)} ms, ` +
    `p99 ${fmt(percentile(cpu, 99), 3)} ms, max ${fmt(cpu.at(-1), 3)} ms, ` +
    `${cpu.filter((x) => x >= 1).length} of ${cpu.length} at 1 ms or more; statuses ${JSON.stringify(statuses)}`;
  log(`  Node ${process.version} (V8), built bundle, D1 and KV in memory (d1-memory.mjs):`);
  log(line(`${CPU_RUNS} new addresses`, fresh));
  log(line(`${repeats.cpu.length} repeats`, repeats));
  const per = (k) => counts[k] / COUNTED;
  log(
    `  ${COUNTED} more, counted at the binding: ${fmt(subrequests(counts) / COUNTED, 2)} subrequests each ` +
      `(D1 ${fmt(per('d1'), 2)} with ${fmt(counts.d1Statements / Math.max(1, counts.d1), 1)} statements, ` +
      `queue ${fmt(per('queue'), 2)}, KV ${fmt(per('kvRead') + per('kvWrite'), 2)}); apart: limiter ` +
      `${fmt(per('limiter'), 2)}, config reads ${fmt(per('configRead'), 3)}; ${stored} of ${expected} leads in memory`,
  );
  const ok =
    fresh.statuses[200] === CPU_RUNS && repeats.statuses[200] === repeats.cpu.length && stored === expected;
  return {
    p50: percentile(fresh.cpu, 50),
    p99: percentile(fresh.cpu, 99),
    repeatP50: percentile(repeats.cpu, 50),
    repeatP99: percentile(repeats.cpu, 99),
    subrequests: subrequests(counts) / COUNTED,
    ok,
  };
}
