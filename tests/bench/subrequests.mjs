/**
 * Subrequest figures from the counting entry's tallies (counting-entry.mjs), shared by the
 * load and launch benches: per kind of registration (tag) the D1 round trips and queue
 * sends per registration (issue 10: at most 2), the statements per batch, and apart the
 * limiter call and the config reads (cached in the isolate); and what the mail consumer
 * spends per message.
 */
import { SUBREQUEST_KINDS } from './binding-counter.mjs';
import { fmt } from './stats.mjs';

export const TARGET_SUBREQUESTS = 2;
const MAIL_QUEUE = 'queue:webinar-mail';

/**
 * Logs the figures of `tags` and returns the summary rows (a target row per tag).
 * @param {{ tallies: Record<string, any> }} calls
 * @param {string[]} tags
 * @param {(line?: string) => void} log
 * @param {string[]} [figureTags] more tags to report without a target (e.g. challenge)
 */
export function subrequestRows(calls, tags, log, figureTags = []) {
  const rows = [];
  for (const tag of [...tags, ...figureTags]) {
    const judged = tags.includes(tag);
    const t = calls.tallies[tag];
    if (!t) {
      log(`  ${tag}: nothing counted`);
      rows.push({
        metric: `subrequests (${tag})`,
        value: 'none counted',
        ...(judged ? { pass: false } : {}),
      });
      continue;
    }
    const per = (k) => (t.sum[k] ?? 0) / t.n;
    const worst = Math.max(...Object.keys(t.subrequests).map(Number));
    const mean = SUBREQUEST_KINDS.reduce((s, k) => s + per(k), 0);
    const spread = Object.entries(t.subrequests)
      .map(([n, count]) => `${count}× ${n}`)
      .join(', ');
    log(
      `  ${tag.padEnd(9)} ${t.n} ${judged ? 'registrations' : 'requests'} (statuses ${JSON.stringify(t.status)}): subrequests mean ` +
        `${fmt(mean, 2)}, max ${worst} [${spread}]; D1 ${fmt(per('d1'), 2)} round trips with ` +
        `${fmt((t.sum.d1Statements ?? 0) / Math.max(1, t.sum.d1 ?? 0), 1)} statements, queue sends ${fmt(per('queue'), 2)}, ` +
        `KV ${fmt(per('kvRead') + per('kvWrite'), 2)}; apart: limiter ${fmt(per('limiter'), 2)}, config reads ` +
        `${fmt(per('configRead') * 1000, 1)} per 1000`,
    );
    if (t.sum.failed) log(`            failed binding calls: ${t.sum.failed} ${JSON.stringify(t.errors)}`);
    rows.push({
      metric: `subrequests per ${judged ? 'registration' : 'request'} (${tag}), mean / max`,
      value: `${fmt(mean, 2)} / ${worst} (D1 ${fmt(per('d1'), 2)}, queue ${fmt(per('queue'), 2)})`,
      ...(judged ? { target: `max ≤ ${TARGET_SUBREQUESTS}`, pass: worst <= TARGET_SUBREQUESTS } : {}),
    });
    rows.push({
      metric: `apart (${tag}): limiter calls / config reads per ${judged ? 'registration' : 'request'}`,
      value: `${fmt(per('limiter'), 2)} / ${fmt(per('configRead'), 4)}`,
    });
  }
  const q = calls.tallies[MAIL_QUEUE];
  if (q?.messages.in) {
    const per = (k) => (q.sum[k] ?? 0) / q.messages.in;
    log(
      `  mail consumer: ${q.n} batches, ${q.messages.in} messages (${q.messages.ack + q.messages.implicitAck} acked, ` +
        `${q.messages.retry} retried); per message D1 ${fmt(per('d1'), 2)}, email ${fmt(per('email'), 2)}, ` +
        `config reads ${fmt(per('configRead'), 3)}, queue ${fmt(per('queue'), 2)}`,
    );
    if (Object.keys(q.errors ?? {}).length) log(`    its errors: ${JSON.stringify(q.errors)}`);
  }
  return { rows };
}
