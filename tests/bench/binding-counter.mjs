/**
 * Counts a worker's binding calls where they are made (tests/bench): `countingEnv` wraps
 * the D1, KV, queue, rate-limit, send_email and fetcher bindings of an env, so every call
 * that leaves the isolate is counted at the binding, not inferred from the code. Plain
 * JavaScript without Node imports: the same file runs in workerd (counting-entry.mjs, in
 * front of the built app) and in Node.
 *
 * Categories, per request or queue invocation:
 *   d1           D1 round trips: each `batch`, `exec`, and each `first/all/run/raw` of a
 *                statement outside a batch (statements inside a batch are `d1Statements`)
 *   queue        `send` and `sendBatch` calls (`queueMessages` counts the messages, and
 *                `to:<binding>` those sent to one queue)
 *   kvRead       KV `get`/`getWithMetadata`/`list` of anything but config
 *   configRead   KV reads of `config:*` keys: the live pointer and the immutable versions,
 *                which the app caches in the isolate (reported apart, as the issue asks)
 *   kvWrite      KV `put`/`delete`
 *   limiter      rate-limit `limit` calls (reported apart)
 *   email        send_email `send`
 *   fetcher      `fetch`/`connect` on a service or assets binding
 *   failed       calls of any of these whose promise rejected
 */

/** Subrequest categories: every binding call except the limiter and cached config reads. */
export const SUBREQUEST_KINDS = ['d1', 'queue', 'kvRead', 'kvWrite', 'email', 'fetcher'];

/** A fresh counter; `batches` keeps the statements' SQL of each D1 batch, when asked to. */
export function newCounts({ keepSql = false } = {}) {
  return {
    d1: 0,
    d1Statements: 0,
    queue: 0,
    queueMessages: 0,
    kvRead: 0,
    configRead: 0,
    kvWrite: 0,
    limiter: 0,
    email: 0,
    fetcher: 0,
    /** Binding calls of any kind whose promise rejected (a failed queue send, a D1 error). */
    failed: 0,
    /** The first messages of those rejections (runtime errors, no request data). */
    errors: [],
    /** Recipients of `email` sends (counted, never reported as such). */
    recipients: [],
    batches: keepSql ? [] : null,
  };
}

/** Binding kinds by name, from a deployed wrangler.json (as the build writes it). */
export function bindingKinds(wrangler) {
  const kinds = {};
  for (const d of wrangler.d1_databases ?? []) kinds[d.binding] = 'd1';
  for (const k of wrangler.kv_namespaces ?? []) kinds[k.binding] = 'kv';
  for (const q of wrangler.queues?.producers ?? []) kinds[q.binding] = 'queue';
  for (const r of wrangler.ratelimits ?? []) kinds[r.name] = 'limiter';
  for (const e of wrangler.send_email ?? []) kinds[e.name] = 'email';
  for (const s of wrangler.services ?? []) kinds[s.binding] = 'fetcher';
  if (wrangler.assets?.binding) kinds[wrangler.assets.binding] = 'fetcher';
  return kinds;
}

const squash = (sql) => sql.replace(/\s+/g, ' ').trim();

/**
 * The call's result, with a rejection counted in `counts.failed` (and passed on). Both
 * callbacks are functions: an RPC binding's promise (send_email) refuses `then(undefined, …)`.
 */
function watched(counts, result) {
  if (result && typeof result.then === 'function')
    return result.then(
      (value) => value,
      (error) => {
        counts.failed += 1;
        if (counts.errors.length < 3) counts.errors.push(String(error?.message ?? error).slice(0, 160));
        throw error;
      },
    );
  return result;
}

function d1(real, counts) {
  const inner = new WeakMap();
  const statement = (stmt, sql) => {
    const round = (method) =>
      function (...args) {
        counts.d1 += 1;
        return watched(counts, stmt[method](...args));
      };
    const wrapped = {
      bind: (...args) => statement(stmt.bind(...args), sql),
      first: round('first'),
      all: round('all'),
      run: round('run'),
      raw: round('raw'),
    };
    inner.set(wrapped, { stmt, sql });
    return wrapped;
  };
  const db = {
    prepare: (sql) => statement(real.prepare(sql), sql),
    batch(statements) {
      counts.d1 += 1;
      counts.d1Statements += statements.length;
      counts.batches?.push(statements.map((s) => squash(inner.get(s)?.sql ?? '?')));
      return watched(counts, real.batch(statements.map((s) => inner.get(s)?.stmt ?? s)));
    },
    exec(query) {
      counts.d1 += 1;
      return watched(counts, real.exec(query));
    },
    withSession: (...args) => d1(real.withSession(...args), counts),
  };
  if (typeof real.getBookmark === 'function') db.getBookmark = () => real.getBookmark();
  return db;
}

function kv(real, counts) {
  const read = (method) =>
    function (key, ...rest) {
      const keys = Array.isArray(key) ? key : [key];
      if (keys.every((k) => typeof k === 'string' && k.startsWith('config:'))) counts.configRead += 1;
      else counts.kvRead += 1;
      return watched(counts, real[method](key, ...rest));
    };
  return {
    get: read('get'),
    getWithMetadata: read('getWithMetadata'),
    list(options) {
      counts.kvRead += 1;
      return watched(counts, real.list(options));
    },
    put(...args) {
      counts.kvWrite += 1;
      return watched(counts, real.put(...args));
    },
    delete(...args) {
      counts.kvWrite += 1;
      return watched(counts, real.delete(...args));
    },
  };
}

const WRAP = {
  d1,
  kv,
  queue: (real, counts, name) => {
    const sent = (n) => {
      counts.queue += 1;
      counts.queueMessages += n;
      counts[`to:${name}`] = (counts[`to:${name}`] ?? 0) + n;
    };
    return {
      send(...args) {
        sent(1);
        return watched(counts, real.send(...args));
      },
      sendBatch(messages, ...rest) {
        sent(messages.length);
        return watched(counts, real.sendBatch(messages, ...rest));
      },
    };
  },
  limiter: (real, counts) => ({
    limit(...args) {
      counts.limiter += 1;
      return watched(counts, real.limit(...args));
    },
  }),
  email: (real, counts) => ({
    send(message) {
      counts.email += 1;
      // The To of a Cloudflare EmailMessage or of the MessageBuilder form.
      const to = message?.to;
      if (to !== undefined) counts.recipients.push(typeof to === 'string' ? to : JSON.stringify(to));
      return watched(counts, real.send(message));
    },
  }),
  fetcher: (real, counts) => ({
    fetch(...args) {
      counts.fetcher += 1;
      return watched(counts, real.fetch(...args));
    },
    connect(...args) {
      counts.fetcher += 1;
      return real.connect(...args);
    },
  }),
};

/** `env` with its bindings (by `kinds`, see bindingKinds) counting into `counts`. */
export function countingEnv(env, kinds, counts) {
  const out = { ...env };
  for (const [name, kind] of Object.entries(kinds))
    if (env[name] && WRAP[kind]) out[name] = WRAP[kind](env[name], counts, name);
  return out;
}

/** Subrequests in a counter: the sum of SUBREQUEST_KINDS. */
export function subrequests(counts) {
  return SUBREQUEST_KINDS.reduce((sum, k) => sum + counts[k], 0);
}
