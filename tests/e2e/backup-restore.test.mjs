/**
 * Backup and restore as the README describes it (section "Backup and restore"): leads
 * registered through the built app, a SQL dump taken with `wrangler d1 export DB --local`,
 * restored with `wrangler d1 execute DB --local --file` into an empty database, give back
 * every lead with every consent (text, version, proof) unchanged; the restored database
 * counts as fully migrated, so `npm start` on it applies nothing.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyMigrations, wranglerD1 } from '../../scripts/d1-local.mjs';
import { queryD1 } from '../helpers/d1.mjs';
import { registerJson } from '../helpers/register.mjs';
import { ROOT, startServer } from '../helpers/server.mjs';

const LEADS = [
  { email: 'e2e-backup-1@example.com', firstName: 'Jürgen', giveaway: true, newsletter: true },
  { email: 'e2e-backup-2@example.com', firstName: "O'Brien", giveaway: false, newsletter: false },
  { email: 'e2e-backup-3@example.com', firstName: 'Anna-Lena Weiß', giveaway: true, newsletter: false },
];

/** Every lead with its consents, as rows, in a stable order. */
const LEADS_WITH_CONSENTS = `SELECT l.id, l.email, l.first_name, l.status, l.created_at, c.kind, c.status AS consent,
  c.text_version, c.text, c.given_at, c.given_ip, c.given_ua FROM leads l JOIN consents c ON c.lead_id = l.id
  ORDER BY l.email, c.kind`;

const dirs = [];
/** A project dir whose `.wrangler/state` is where `d1 export --local` looks. */
function project() {
  const dir = mkdtempSync(join(tmpdir(), 'webinar-backup-'));
  dirs.push(dir);
  copyFileSync(join(ROOT, 'wrangler.toml'), join(dir, 'wrangler.toml'));
  mkdirSync(join(dir, '.wrangler'), { recursive: true });
  return { dir, config: join(dir, 'wrangler.toml'), state: join(dir, '.wrangler/state') };
}

const source = project();
/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;

before(async () => {
  server = await startServer({ persistDir: source.state });
  for (const lead of LEADS) {
    const res = await registerJson(server.url, { ...lead, privacy: true });
    assert.equal(res.status, 200, await res.text());
  }
  // The dump is taken from a database no server writes to (as with a deployment's export).
  await server.stop();
});

after(() => {
  server?.cleanup();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('backup with wrangler d1 export, restore with wrangler d1 execute --file', () => {
  it('gives back every lead with its consents in an empty database', async () => {
    const original = await queryD1(source.state, LEADS_WITH_CONSENTS);
    assert.deepEqual(
      [...new Set(original.map((r) => r.email))],
      LEADS.map((l) => l.email),
    );
    // Privacy for everyone, giveaway and newsletter where given: the texts as shown.
    const kinds = (email) => original.filter((r) => r.email === email).map((r) => r.kind);
    assert.deepEqual(kinds(LEADS[0].email), ['giveaway', 'newsletter', 'privacy']);
    assert.deepEqual(kinds(LEADS[1].email), ['privacy']);
    assert.ok(
      original.every((r) => r.text.length > 20 && r.text_version),
      'consent texts are stored',
    );

    const dump = join(source.dir, 'backup.sql');
    wranglerD1(['export', 'DB', '--output', dump], { config: source.config, quiet: true });

    const target = project();
    wranglerD1(['execute', 'DB', '--file', dump, '-y'], { persistTo: target.state, quiet: true });
    // Names with quotes and umlauts, texts, versions and proof: all as they were.
    assert.deepEqual(await queryD1(target.state, LEADS_WITH_CONSENTS), original);

    // The restored database knows its migrations: starting a server on it changes nothing.
    assert.match(applyMigrations({ persistTo: target.state, quiet: true }), /No migrations to apply/);
  });
});
