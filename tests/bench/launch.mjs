/**
 * Launch rehearsal (issue 10); a module of tests/bench/run.mjs, also runnable alone:
 * `node tests/bench/launch.mjs` (or `node tests/bench/run.mjs launch`).
 *
 * The built app in local workerd (counting-server.mjs: `vite preview`, ENVIRONMENT=production,
 * so no dev outbox; the mail queue's consumer runs in the same server) takes
 * BENCH_LAUNCH_REGS (default 20,000) registration posts spread evenly over
 * BENCH_LAUNCH_SECONDS (default 120), sent on schedule, at most BENCH_LAUNCH_MAX_IN_FLIGHT
 * (default 64; 0 for none) at a time: where the local stack is slower than the schedule,
 * the run takes longer (see MAX_IN_FLIGHT). Of the posts, 10 % are repeats of an
 * address registered earlier in the run (one whose first answer is back) and 5 % are the
 * second half of a double submit (two posts of one new address at the same moment); the
 * rest are first registrations. Each post has its own `cf-connecting-ip` (10.x.y.z, a header
 * value only; all traffic goes to 127.0.0.1), so the per-IP limiter does not interfere.
 *
 * Afterwards it waits until the mail queue is drained (every message the registrations
 * queued is acknowledged, counted at the consumer) and reads the server's D1: leads stored
 * (must equal the distinct addresses), confirmation mails sent (`mail_sends` of kind
 * confirm with `sent_at`, must equal the distinct addresses; also counted at the EMAIL
 * binding), lost (a lead without a sent confirmation, or an address without a lead: 0) and
 * duplicated (a lead with two confirmation mails, or a recipient mailed twice: 0; a
 * resend is only due for a repeat 10 minutes after the last one, which cannot happen in
 * two minutes). Subrequests per registration are counted at the bindings as in load.mjs.
 *
 * Every post carries its own proof-of-work solution, fetched and solved before the window
 * (altcha.mjs); the mail budgets are those of local development (BENCH_VARS in
 * counting-server.mjs), so every confirmation goes out during the run.
 *
 * Env: BENCH_LAUNCH_REGS, BENCH_LAUNCH_SECONDS, BENCH_LAUNCH_MAX_IN_FLIGHT,
 * BENCH_LAUNCH_DRAIN_SECONDS (default 900; it gives up sooner when nothing moves for
 * 150 s), BENCH_LAUNCH_PORT (default 4810).
 */
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { fetchSolutions } from './altcha.mjs';
import { BENCH_VARS, startCountingServer } from './counting-server.mjs';
import { fmt, percentile } from './stats.mjs';
import { subrequestRows } from './subrequests.mjs';
import { QUIET_ENV } from '../helpers/server.mjs';

const REGS = Number(process.env.BENCH_LAUNCH_REGS ?? 20_000);
const SECONDS = Number(process.env.BENCH_LAUNCH_SECONDS ?? 120);
const DRAIN_SECONDS = Number(process.env.BENCH_LAUNCH_DRAIN_SECONDS ?? 900);
const PORT = Number(process.env.BENCH_LAUNCH_PORT ?? 4810);
const REPEAT_SHARE = 0.1;
const DOUBLE_SHARE = 0.05;
/**
 * Posts in flight at most (0: no limit, purely on schedule). Local workerd handles every
 * request, the simulated D1, queue and limiter and the mail consumer on one thread; past
 * its rate an open-loop sender piles up thousands of requests in flight, and then the
 * local queue refuses sends ("Unknown Internal Error (15000)") and those confirmations
 * wait for the hourly sweep. Cloudflare spreads a launch over many isolates, so the limit
 * keeps the rehearsal about counting, at the local stack's pace (decision 069).
 */
const MAX_IN_FLIGHT = Number(process.env.BENCH_LAUNCH_MAX_IN_FLIGHT ?? 64);
/** Sockets the client keeps open to the server at most (more posts wait in the client). */
const MAX_SOCKETS = 256;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A small seeded PRNG (mulberry32), so every run has the same mix in the same order. */
function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The run's slots in order: 'new' (one post of a new address), 'double' (two posts of a
 * new address at once) and 'repeat' (one post of an earlier address).
 */
function plan(regs) {
  const repeats = Math.round(regs * REPEAT_SHARE);
  const doubles = Math.round(regs * DOUBLE_SHARE);
  const singles = regs - repeats - 2 * doubles;
  const slots = [
    ...Array(singles).fill('new'),
    ...Array(doubles).fill('double'),
    ...Array(repeats).fill('repeat'),
  ];
  const random = prng(20_000);
  for (let i = slots.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [slots[i], slots[j]] = [slots[j], slots[i]];
  }
  return { slots, random, repeats, doubles, distinct: singles + doubles };
}

/** POSTs one registration; resolves with the status (0 when the connection failed). */
function post(agent, port, email, ip, tag, altcha) {
  // Every post of one address sends the same form (a repeat adds no consent, so it asks for
  // no new confirmation); one in ten addresses also ticks the newsletter.
  const newsletter = Number(/\.(\d+)@/.exec(email)?.[1]) % 10 === 7;
  const body = JSON.stringify({ email, firstName: 'Launch', privacy: true, newsletter, altcha });
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/api/register',
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'cf-connecting-ip': ip,
          'x-bench-tag': tag,
        },
        timeout: 30_000,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
        res.on('error', () => resolve(0));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

// A different address per post: 10.a.b.c with c in 1…254.
const ipOf = (n) => `10.${Math.floor(n / 65_024) & 255}.${Math.floor(n / 254) & 255}.${(n % 254) + 1}`;

/** Sends the plan on schedule with the solutions made before; returns what was sent and answered. */
async function rehearse(port, solutions, log) {
  const { slots, random, repeats, doubles, distinct } = plan(REGS);
  log(
    `  ${REGS} posts over ${SECONDS} s (at most ${MAX_IN_FLIGHT || 'unlimited'} in flight): ${distinct} addresses, ${REGS - repeats - 2 * doubles} posted once, ` +
      `${doubles} double submits (2 posts at once), ${repeats} repeats of an earlier address`,
  );
  const agent = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
  const answered = []; // addresses whose first post has its answer: candidates for repeats
  const ok = new Set();
  const statuses = {};
  const latency = [];
  let seq = 0;
  let inFlight = 0;
  let peakInFlight = 0;
  const send = (email, tag) => {
    seq += 1;
    inFlight += 1;
    peakInFlight = Math.max(peakInFlight, inFlight);
    const started = performance.now();
    return post(agent, port, email, ipOf(seq), tag, solutions.pop()).then((status) => {
      inFlight -= 1;
      latency.push(performance.now() - started);
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status === 200) ok.add(email);
      return status;
    });
  };
  const pending = [];
  const interval = (SECONDS * 1000) / slots.length;
  const start = performance.now();
  let lateMax = 0;
  let next = 0;
  let fresh = 0;
  while (next < slots.length) {
    const now = performance.now() - start;
    while (next < slots.length && next * interval <= now && (!MAX_IN_FLIGHT || inFlight < MAX_IN_FLIGHT)) {
      lateMax = Math.max(lateMax, now - next * interval);
      const kind = slots[next++];
      if (kind === 'repeat' && answered.length) {
        pending.push(send(answered[Math.floor(random() * answered.length)], 'repeat'));
        continue;
      }
      // A repeat before any answer is back becomes a first registration (the very start).
      const email = `launch.${fresh++}@beispiel.de`;
      const first = send(email, 'new').then(() => answered.push(email));
      pending.push(first);
      if (kind === 'double') pending.push(send(email, 'double'));
    }
    await sleep(Math.max(1, Math.min(20, (next * interval - (performance.now() - start)) | 0)));
  }
  const sentIn = (performance.now() - start) / 1000;
  await Promise.all(pending);
  const answeredIn = (performance.now() - start) / 1000;
  agent.destroy();
  latency.sort((a, b) => a - b);
  return { posts: seq, fresh, ok, statuses, latency, sentIn, answeredIn, lateMax, peakInFlight };
}

/** Gives up waiting when no mail job was acknowledged for this long (a retry waits ≤ 60 s). */
const STALL_SECONDS = 150;

/**
 * Waits until the mail consumer acknowledged every mail job queued (by the registrations
 * and by the consumer itself, e.g. a paced mail), less the sends that failed.
 */
async function drain(app, log) {
  const started = Date.now();
  let told = started;
  let last = { done: -1, at: started };
  for (;;) {
    const calls = await app.calls();
    const sum = (tag, k) => calls.tallies[tag]?.sum[k] ?? 0;
    const tags = ['new', 'repeat', 'double', 'queue:webinar-mail'];
    const queued = tags.reduce((s, tag) => s + sum(tag, 'to:MAIL_QUEUE'), 0);
    const failed = tags.reduce((s, tag) => s + sum(tag, 'failed'), 0);
    const q = calls.tallies['queue:webinar-mail']?.messages ?? { ack: 0, implicitAck: 0, retry: 0 };
    const done = q.ack + q.implicitAck;
    const state = `${done} of ${queued} mail jobs acknowledged (${q.retry} retries, ${failed} failed binding calls)`;
    const result = { calls, seconds: (Date.now() - started) / 1000, queued, failed };
    if (done >= queued - failed) return result;
    if (done !== last.done) last = { done, at: Date.now() };
    if ((Date.now() - started) / 1000 > DRAIN_SECONDS || (Date.now() - last.at) / 1000 > STALL_SECONDS) {
      log(`  gave up waiting after ${fmt(result.seconds)} s: ${state}`);
      return { ...result, timedOut: true };
    }
    if (Date.now() - told > 30_000) {
      told = Date.now();
      log(`  draining: ${state}`);
    }
    await sleep(2000);
  }
}

/** One number from a COUNT query. */
const count = async (app, sql) => Number(Object.values((await app.query(sql))[0] ?? { n: NaN })[0]);

/** @param {{ log: (line?: string) => void }} options */
export async function run({ log = console.log } = {}) {
  Object.assign(process.env, QUIET_ENV);
  const app = await startCountingServer({ port: PORT });
  let sent, drained, stored, mails, events;
  try {
    // Warm the isolate (first render, config, key import) outside the window.
    await fetch(`${app.url}/`).then((r) => r.arrayBuffer());
    log(`  bench settings: ${JSON.stringify(BENCH_VARS)} (counting-server.mjs)`);
    // Every post spends its own proof-of-work solution: all are made before the window.
    const prepared = Date.now();
    const solutions = await fetchSolutions(app.url, REGS, {
      ipOf: (k) => ipOf(1_000_000 + k),
      concurrency: 32,
    });
    log(`  ${solutions.length} challenges fetched and solved in ${fmt((Date.now() - prepared) / 1000)} s`);
    await app.resetCalls();
    sent = await rehearse(PORT, solutions, log);
    log(
      `  sent in ${fmt(sent.sentIn, 1)} s (at most ${fmt(sent.lateMax)} ms behind schedule, ${sent.peakInFlight} posts ` +
        `in flight at most), all answered after ${fmt(sent.answeredIn, 1)} s; statuses ${JSON.stringify(sent.statuses)}; ` +
        `latency p50 ${fmt(percentile(sent.latency, 50))} ms, p99 ${fmt(percentile(sent.latency, 99))} ms`,
    );
    drained = await drain(app, log);
    log(`  mail queue drained ${fmt(drained.seconds)} s after the last answer (${drained.queued} jobs)`);
    const confirmSent = "FROM mail_sends WHERE kind = 'confirm' AND sent_at IS NOT NULL";
    const emails = (await app.query('SELECT email FROM leads')).map((r) => r.email);
    stored = { emails: new Set(emails), rows: emails.length };
    mails = {
      sent: await count(app, `SELECT COUNT(*) AS n ${confirmSent}`),
      leads: await count(app, `SELECT COUNT(DISTINCT lead_id) AS n ${confirmSent}`),
      twice: await count(
        app,
        `SELECT COUNT(*) AS n FROM (SELECT lead_id ${confirmSent} GROUP BY lead_id HAVING COUNT(*) > 1)`,
      ),
      without: await count(
        app,
        `SELECT COUNT(*) AS n FROM leads l WHERE NOT EXISTS (SELECT 1 FROM mail_sends m
           WHERE m.lead_id = l.id AND m.kind = 'confirm' AND m.sent_at IS NOT NULL)`,
      ),
      unsent: await count(app, 'SELECT COUNT(*) AS n FROM mail_sends WHERE sent_at IS NULL'),
      deadLetters: await count(app, 'SELECT COUNT(*) AS n FROM dead_letters'),
      binding: drained.calls.mail,
    };
    events = app.events();
  } finally {
    await app.stop();
  }

  const distinct = sent.fresh;
  const lostLeads = [...sent.ok].filter((e) => !stored.emails.has(e)).length;
  const foreign = [...stored.emails].filter((e) => !/^launch\.\d+@beispiel\.de$/.test(e)).length;
  const duplicated = mails.twice + Math.max(0, mails.binding.sends - mails.sent);
  const lost = lostLeads + mails.without + (distinct - sent.ok.size);
  const all200 = (sent.statuses[200] ?? 0) === sent.posts;
  log(
    `  leads stored ${stored.rows} (distinct addresses ${distinct}, answered 200: ${sent.ok.size}); ` +
      `confirmation mails sent ${mails.sent} to ${mails.leads} leads (EMAIL binding: ${mails.binding.sends} sends to ` +
      `${mails.binding.recipients} recipients, ${mails.binding.recipientsWithMoreThanOne} mailed more than once); ` +
      `leads with two or more: ${mails.twice}; leads without one: ${mails.without}; claims never sent ${mails.unsent}; ` +
      `dead letters ${mails.deadLetters}`,
  );
  log(
    `  the worker's warnings and errors: ${JSON.stringify(events)}; failed binding calls: ${drained.failed}`,
  );
  log('  subrequests per registration, counted at the bindings in workerd:');
  const sub = subrequestRows(drained.calls, ['new', 'repeat', 'double'], log);

  const rows = [
    {
      metric: `rehearsal: ${sent.posts} posts (10 % repeats, 5 % double submits)`,
      value: `sent in ${fmt(sent.sentIn)} s, answered in ${fmt(sent.answeredIn)} s, drained +${fmt(drained.seconds)} s; p99 ${fmt(percentile(sent.latency, 99))} ms`,
      target: 'all 200, queue drained',
      pass: all200 && !drained.timedOut,
    },
    {
      metric: 'rehearsal: rate sent / answered (figure)',
      value: `${fmt(sent.posts / sent.sentIn)} / ${fmt(sent.posts / sent.answeredIn)} posts/s, ${sent.peakInFlight} in flight at most`,
    },
    {
      metric: 'rehearsal: leads stored = distinct addresses',
      value: `${stored.rows} = ${distinct}`,
      target: 'equal',
      pass: stored.rows === distinct && foreign === 0 && lostLeads === 0,
    },
    {
      metric: 'rehearsal: confirmation mails sent = distinct addresses',
      value: `${mails.sent} = ${distinct} (binding: ${mails.binding.sends})`,
      target: 'equal',
      pass: mails.sent === distinct && mails.binding.sends === distinct,
    },
    { metric: 'rehearsal: lost (leads or mails)', value: String(lost), target: '0', pass: lost === 0 },
    {
      metric: "rehearsal: the worker's warnings and errors (figure)",
      value:
        Object.entries(events)
          .map(([k, n]) => `${n}× ${k}`)
          .join(', ') || 'none',
    },
    {
      metric: 'rehearsal: duplicated (two confirmation mails)',
      value: `${duplicated} (${mails.binding.recipientsWithMoreThanOne} recipients mailed twice)`,
      target: '0',
      pass: duplicated === 0 && mails.binding.recipientsWithMoreThanOne === 0,
    },
    ...sub.rows,
  ];
  return { name: 'launch', rows };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { rows } = await run();
  for (const r of rows)
    console.log(`${r.pass === undefined ? '    ' : r.pass ? 'PASS' : 'FAIL'}  ${r.metric}: ${r.value}`);
  process.exit(rows.some((r) => r.pass === false) ? 1 : 0);
}
