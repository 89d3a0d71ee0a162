/**
 * Seeds a bench server's local D1 before the server starts: the migrations first (wrangler,
 * recorded in the database as `npm run preview` records them), then SQL statements run
 * through a throwaway Miniflare on the same persist dir (never an app route). Rows are
 * generated inside SQLite (a recursive CTE), so 100,000 leads take seconds and no
 * personal data crosses a process boundary or a log.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import { applyMigrations } from '../../scripts/d1-local.mjs';
import { ROOT } from '../helpers/server.mjs';

/** The D1 database id of the build: local D1 files are keyed by it. */
function databaseId() {
  const wrangler = JSON.parse(readFileSync(join(ROOT, 'dist/webinar_landing/wrangler.json'), 'utf8'));
  return wrangler.d1_databases[0].database_id;
}

/**
 * Applies migrations/ to the local D1 under `persistDir`, then runs `statements` in order.
 * @param {string} persistDir the server's persist dir (D1 lives in `<dir>/v3/d1`)
 * @param {string[]} statements SQL, each run on its own
 * @param {(line: string) => void} log
 */
export async function seedD1(persistDir, statements, log) {
  applyMigrations({ persistTo: persistDir, quiet: true });
  const mf = new Miniflare({
    modules: true,
    script: 'export default { fetch: () => new Response("seed") };',
    d1Databases: { DB: databaseId() },
    d1Persist: join(persistDir, 'v3', 'd1'),
  });
  try {
    const db = await mf.getD1Database('DB');
    for (const [i, sql] of statements.entries()) {
      const res = await db.prepare(sql).run();
      log(`  statement ${i + 1}/${statements.length}: ${res.meta.changes.toLocaleString('de-DE')} rows`);
    }
  } finally {
    await mf.dispose();
  }
}
