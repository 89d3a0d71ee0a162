/**
 * `npm run migrate:kv-to-d1` (scripts/migrate-kv-to-d1.ts) against the built app: a
 * KV-era deployment's leads, erasures and audit entries (seeded in the old formats into
 * the server's local KV before it starts) arrive in D1 with their consents, the count
 * check adds up, nothing personal is left in KV, and a second run changes nothing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Miniflare } from 'miniflare';
import { queryD1 } from '../helpers/d1.mjs';
import { ROOT, startServer } from '../helpers/server.mjs';

/** The local values from .dev.vars.example, which `vite preview` uses. */
const OPS_TOKEN = 'dev-only-ops-token-0123456789abcdef';
const SECRET = /LEAD_KEY_SECRET\s*=\s*"([^"]+)"/.exec(
  readFileSync(join(ROOT, '.dev.vars.example'), 'utf8'),
)[1];
const LEGACY_NAMESPACE = '00000000000000000000000000000001';
const EMAILS = ['e2e-migrate-1@example.com', 'e2e-migrate-2@example.com', 'e2e-migrate-3@example.com'];
const legacyId = (email) => createHmac('sha256', SECRET).update(email.trim().toLowerCase()).digest('hex');

const persistDir = mkdtempSync(join(tmpdir(), 'webinar-migrate-'));
/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;

/** The server's local KV, opened by a throwaway Miniflare (never while the server runs). */
async function withLegacyKv(fn) {
  const mf = new Miniflare({
    modules: true,
    script: 'export default { fetch() { return new Response(""); } };',
    kvNamespaces: { LEGACY_LEADS: LEGACY_NAMESPACE },
    kvPersist: join(persistDir, 'v3', 'kv'),
  });
  try {
    return await fn(await mf.getKVNamespace('LEGACY_LEADS'));
  } finally {
    await mf.dispose();
  }
}

async function cli(args) {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(ROOT, 'scripts/migrate-kv-to-d1.ts'), ...args],
      { cwd: ROOT },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    return { code: error.code, stdout: error.stdout, stderr: error.stderr };
  }
}

before(async () => {
  await withLegacyKv(async (kv) => {
    const at = '2026-11-02T08:00:00.000Z';
    for (const [i, email] of EMAILS.entries()) {
      const id = legacyId(email);
      const record = {
        schema: 1,
        id,
        email,
        firstName: 'Jürgen',
        status: i === 0 ? 'confirmed' : 'pending',
        createdAt: at,
        updatedAt: at,
        phase: 'before',
        consents: {
          privacy: { at, textVersion: '2026-11' },
          ...(i === 0 ? { giveaway: { at, textVersion: '2026-11' } } : {}),
        },
        source: {},
        proof: {
          registration: { at, ip: '192.0.2.10', userAgent: 'UA' },
          ...(i === 0 ? { confirmation: { at, ip: '192.0.2.11', userAgent: 'UA' } } : {}),
        },
        ...(i === 0 ? { confirmedAt: at } : {}),
      };
      await kv.put(`lead:${id}`, JSON.stringify(record));
      await kv.put(`sent:confirm:${id}`, JSON.stringify({ at }));
    }
    await kv.put(`suppressed:${legacyId('e2e-migrate-erased@example.com')}`, '{}', {
      metadata: { at, by: 'ops' },
    });
    await kv.put('audit:8235962399999:2026-11-02T08:00:00.000Z:0a0b0c', '', {
      metadata: { t: at, role: 'ops', id: 'token:ops', action: 'leads.exported', detail: { count: 3 } },
    });
  });
  server = await startServer({ persistDir });
});

after(async () => {
  await server?.stop();
  server?.cleanup();
  rmSync(persistDir, { recursive: true, force: true });
});

describe('npm run migrate:kv-to-d1 (CLI)', () => {
  it('refuses a wrong token with exit code 2 and a German message', async () => {
    const r = await cli(['--url', server.url, '--token', 'falsch-falsch-falsch-falsch']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /Zugriff verweigert \(401\)/);
  });

  it('moves everything, prints a count check that adds up and empties KV of personal data', async () => {
    const r = await cli(['--url', server.url, '--token', OPS_TOKEN]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^lead\s+3\s+3\s+0\s+0$/m);
    assert.match(r.stderr, /^suppressed\s+1\s+1\s+0\s+0$/m);
    assert.match(r.stderr, /^sent\s+3\s+3\s+0\s+0$/m);
    assert.match(r.stderr, /Zählprüfung: alles übernommen\./);
    assert.match(r.stderr, /Fertig: In KV ist nichts Personenbezogenes mehr\./);
  });

  it('runs again without changing anything', async () => {
    const r = await cli(['--url', server.url, '--token', OPS_TOKEN]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^lead\s+0\s+0\s+0\s+0$/m);
    assert.match(r.stderr, /Zeilen in D1: leads 3, consents 4, suppression 1, mail_sends 3/);
  });

  it('left every lead with its consents in D1 and no personal key in KV', async () => {
    await server.stop();
    const rows = await queryD1(
      persistDir,
      'SELECT l.email, c.kind, c.status, c.note FROM leads l JOIN consents c ON c.lead_id = l.id ORDER BY l.email, c.kind',
    );
    assert.deepEqual(
      rows.map((r) => [r.email, r.kind, r.status]),
      [
        [EMAILS[0], 'giveaway', 'confirmed'],
        [EMAILS[0], 'privacy', 'confirmed'],
        [EMAILS[1], 'privacy', 'pending'],
        [EMAILS[2], 'privacy', 'pending'],
      ],
    );
    assert.ok(rows.every((r) => r.note === 'migrated_without_text'));
    const left = await withLegacyKv(async (kv) => (await kv.list()).keys.map((k) => k.name));
    assert.deepEqual(left, []);
  });
});
