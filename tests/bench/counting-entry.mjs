/**
 * Bench-only worker entry (tests/bench/counting-server.mjs copies it next to the built
 * app's dist/webinar_landing/index.js and makes it `main`): the built app, unchanged,
 * behind bindings that count their calls (binding-counter.mjs). Never deployed.
 *
 * Each request's calls, its own `waitUntil` work included, are added to a tally under the
 * request's `x-bench-tag` header (e.g. new, repeat, double); each queue invocation's under
 * its queue's name, with how its messages ended (ack, retry, or implicitly acked when the
 * handler returned). `GET /__bench/calls` answers the tallies; `POST /__bench/calls/reset`
 * clears them. Mail recipients are counted in the isolate and only their number leaves it.
 */
import app from './index.js';
import { countingEnv, newCounts, subrequests } from './binding-counter.mjs';
import kinds from './bench-bindings.mjs';

/** How many distinct D1 batch shapes (statement lists) a tally keeps. */
const MAX_SHAPES = 8;
let tallies = new Map();
let sendsTo = new Map();
/** The worker's warn and error lines by event and reason, live (the server's log is the bench's). */
let logged = {};
for (const level of ['warn', 'error']) {
  const write = console[level].bind(console);
  console[level] = (...args) => {
    try {
      const line = JSON.parse(String(args[0]));
      const key = `${level} ${line.event}${line.reason || line.message ? `: ${String(line.reason ?? line.message).slice(0, 120)}` : ''}`;
      if (key in logged || Object.keys(logged).length < 20) logged[key] = (logged[key] ?? 0) + 1;
    } catch {
      // not one of the worker's JSON lines
    }
    write(...args);
  };
}

function tallyOf(key) {
  let t = tallies.get(key);
  if (!t)
    tallies.set(
      key,
      (t = {
        n: 0,
        sum: {},
        max: {},
        subrequests: {},
        status: {},
        shapes: new Map(),
        messages: { in: 0, ack: 0, retry: 0, implicitAck: 0 },
        /** Distinct error messages (failed binding calls, a handler that threw), a few. */
        errors: {},
      }),
    );
  return t;
}

function add(key, counts, status) {
  const t = tallyOf(key);
  t.n += 1;
  for (const [k, v] of Object.entries(counts)) {
    if (typeof v !== 'number') continue;
    t.sum[k] = (t.sum[k] ?? 0) + v;
    t.max[k] = Math.max(t.max[k] ?? 0, v);
  }
  const s = subrequests(counts);
  t.subrequests[s] = (t.subrequests[s] ?? 0) + 1;
  if (status !== undefined) t.status[status] = (t.status[status] ?? 0) + 1;
  for (const batch of counts.batches ?? []) {
    const shape = JSON.stringify(batch);
    if (t.shapes.has(shape) || t.shapes.size < MAX_SHAPES)
      t.shapes.set(shape, (t.shapes.get(shape) ?? 0) + 1);
  }
  for (const to of counts.recipients) sendsTo.set(to, (sendsTo.get(to) ?? 0) + 1);
  for (const e of counts.errors) noteError(t, e);
  return t;
}

function noteError(t, message) {
  if (message in t.errors || Object.keys(t.errors).length < 5)
    t.errors[message] = (t.errors[message] ?? 0) + 1;
}

function report() {
  const out = {};
  for (const [key, t] of tallies)
    out[key] = { ...t, shapes: [...t.shapes].map(([sql, n]) => ({ n, sql: JSON.parse(sql) })) };
  let twice = 0;
  for (const n of sendsTo.values()) if (n > 1) twice += 1;
  const sends = [...sendsTo.values()].reduce((a, b) => a + b, 0);
  return {
    tallies: out,
    mail: { sends, recipients: sendsTo.size, recipientsWithMoreThanOne: twice },
    logged,
  };
}

/** A ctx whose waitUntil promises are collected, and `settle` to tally the calls once they ended. */
function counted(key, ctx, counts) {
  const pending = [];
  const inner = {
    waitUntil: (p) => pending.push(p),
    passThroughOnException: () => ctx.passThroughOnException(),
    props: ctx.props,
  };
  const settle = async (status) => {
    for (let seen = -1; seen !== pending.length;) {
      seen = pending.length;
      await Promise.allSettled(pending);
    }
    return add(key, counts, status);
  };
  return { inner, settle };
}

export default {
  async fetch(request, env, ctx) {
    const { pathname } = new URL(request.url);
    if (pathname === '/__bench/calls') return Response.json(report());
    if (pathname === '/__bench/calls/reset' && request.method === 'POST') {
      tallies = new Map();
      sendsTo = new Map();
      logged = {};
      return Response.json({ ok: true });
    }
    const key = request.headers.get('x-bench-tag') ?? 'other';
    const counts = newCounts({ keepSql: true });
    const { inner, settle } = counted(key, ctx, counts);
    const res = await app.fetch(request, countingEnv(env, kinds, counts), inner);
    ctx.waitUntil(settle(res.status));
    return res;
  },

  async queue(batch, env, ctx) {
    const counts = newCounts({ keepSql: true });
    const { inner, settle } = counted(`queue:${batch.queue}`, ctx, counts);
    const ended = new Map();
    // The same batch, with each message's end recorded.
    const messages = batch.messages.map((m) => {
      const end =
        (how, fn) =>
        (...args) => {
          if (!ended.has(m.id)) ended.set(m.id, how);
          return fn.apply(m, args);
        };
      return {
        id: m.id,
        timestamp: m.timestamp,
        body: m.body,
        attempts: m.attempts,
        ack: end('ack', m.ack),
        retry: end('retry', m.retry),
      };
    });
    const wrapped = {
      queue: batch.queue,
      messages,
      ackAll: () => batch.ackAll(),
      retryAll: (o) => batch.retryAll(o),
    };
    // A handler that throws has every message not yet ended retried; one that returns,
    // acknowledged.
    let unended = 'retry';
    let thrown;
    try {
      await app.queue(wrapped, countingEnv(env, kinds, counts), inner);
      unended = 'implicitAck';
    } catch (error) {
      thrown = `handler threw: ${String(error?.message ?? error).slice(0, 160)}`;
      throw error;
    } finally {
      const t = await settle();
      if (thrown) noteError(t, thrown);
      t.messages.in += messages.length;
      for (const m of messages) t.messages[ended.get(m.id) ?? unended] += 1;
    }
  },

  async scheduled(controller, env, ctx) {
    const counts = newCounts();
    const { inner, settle } = counted('scheduled', ctx, counts);
    try {
      await app.scheduled(controller, countingEnv(env, kinds, counts), inner);
    } finally {
      await settle();
    }
  },
};
