/**
 * Seeds leads into a local KV persist dir for the benches, through a throwaway Miniflare
 * worker (never an app route): batches of 1000, four in flight.
 */
import { join } from 'node:path';
import { Miniflare } from 'miniflare';

/** The LEADS namespace id from wrangler.toml: local KV files are keyed by it. */
export const LEADS_NAMESPACE = '00000000000000000000000000000001';

/**
 * @param {string} persistDir  the server's persist dir (KV lives in `<dir>/v3/kv`)
 * @param {string} script      a module worker whose POST `{ from, to, ...extra }` writes leads from..to
 * @param {number} total       how many leads
 * @param {Record<string, unknown>} extra  more fields for every batch request
 * @param {(line: string) => void} log
 */
export async function seedLeads(persistDir, script, total, extra, log) {
  const mf = new Miniflare({
    modules: true,
    script,
    kvNamespaces: { LEADS: LEADS_NAMESPACE },
    kvPersist: join(persistDir, 'v3', 'kv'),
  });
  try {
    const batches = [];
    for (let from = 0; from < total; from += 1000) batches.push([from, Math.min(total, from + 1000)]);
    let next = 0;
    let done = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < batches.length) {
          const [from, to] = batches[next++];
          const res = await mf.dispatchFetch('http://seed/', {
            method: 'POST',
            body: JSON.stringify({ from, to, ...extra }),
          });
          if (!res.ok) throw new Error(`seeding failed: ${res.status} ${await res.text()}`);
          await res.text();
          done += to - from;
          if (done % 20_000 === 0) log(`  seeded ${done.toLocaleString('de-DE')} leads`);
        }
      }),
    );
  } finally {
    await mf.dispose();
  }
}
