/**
 * The ops journey through the built app (vite preview → workerd) in real Chromium: sign in
 * at /admin with the ops token, see the stats of the leads registered (and partly
 * confirmed through their mails) before, download the Excel-DE CSV and parse it back into
 * exactly the leads stored in D1, draw a winner and check the draw's hash against the
 * stored eligible entries; axe finds nothing on the sign-in form or the dashboard; the
 * session cookie is HttpOnly/SameSite=Strict; no CSP violation. One server for the file
 * with its own empty D1.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { AxeBuilder } from '@axe-core/playwright';
import { launchBrowser, VIEWPORTS } from '../helpers/browser.mjs';
import { queryD1 } from '../helpers/d1.mjs';
import { solvedAltcha } from '../helpers/register.mjs';
import { ROOT, startServer } from '../helpers/server.mjs';
import { parseCsv } from '../helpers/csv.mjs';

const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
/** The local value from .dev.vars.example, which `vite preview` uses. */
const OPS_TOKEN = 'dev-only-ops-token-0123456789abcdef';

/** Leads registered before the tests; `confirm`: the confirmation link in their mail is used. */
const LEADS = [
  {
    email: 'e2e-ops-1@example.com',
    firstName: 'Jürgen',
    giveaway: true,
    confirm: true,
    utm_source: 'newsletter',
  },
  {
    email: 'e2e-ops-2@example.com',
    firstName: "O'Brien",
    giveaway: false,
    confirm: true,
    utm_source: 'newsletter',
  },
  {
    email: 'e2e-ops-3@example.com',
    firstName: 'Anna-Lena Weiß',
    giveaway: true,
    confirm: true,
    utm_source: 'facebook',
  },
  { email: 'e2e-ops-4@example.com', firstName: '', giveaway: true, confirm: false },
];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Entries count once confirmed, and only while the giveaway is open (whatever the content says). */
const content = JSON.parse(readFileSync(join(ROOT, 'src/content/webinar.json'), 'utf8'));
const giveawayOpen = Date.now() < Date.parse(content.giveaway.deadline);
const ENTRIES = giveawayOpen ? LEADS.filter((l) => l.giveaway && l.confirm) : [];

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;

/** The mail of `kind` to `to` from the dev outbox, once the queue has delivered it. */
async function waitForMail(to, kind, timeoutMs = 30_000) {
  for (const deadline = Date.now() + timeoutMs; ; await sleep(500)) {
    const res = await fetch(`${server.url}/api/admin/dev/outbox`, {
      headers: { authorization: `Bearer ${OPS_TOKEN}` },
    });
    assert.equal(res.status, 200, await res.clone().text());
    const mail = (await res.json()).mails.find((m) => m.to === to && m.kind === kind);
    if (mail) return mail;
    if (Date.now() > deadline) throw new Error(`no ${kind} mail within ${timeoutMs} ms:\n${server.output()}`);
  }
}

/** A solved ALTCHA challenge, as the enhanced form sends it with a registration. */
const altcha = () => solvedAltcha(server.url);

before(async () => {
  server = await startServer();
  for (const { confirm, ...lead } of LEADS) {
    const res = await fetch(`${server.url}/api/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...lead, privacy: true, altcha: await altcha() }),
    });
    assert.equal(res.status, 200, await res.text());
  }
  for (const lead of LEADS.filter((l) => l.confirm)) {
    const mail = await waitForMail(lead.email, 'confirm');
    const link = new URL(mail.links.find((l) => l.startsWith(`${server.url}/bestaetigen?t=`)));
    const res = await fetch(`${server.url}/bestaetigen`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ t: link.searchParams.get('t') }),
    });
    assert.equal(res.status, 200, await res.text());
  }
});

after(async () => {
  await server?.stop();
  server?.cleanup();
});

async function axeViolations(page) {
  const result = await new AxeBuilder({ page }).withTags(AXE_TAGS).analyze();
  return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

describe('ops at /admin', () => {
  it('signs in, sees the stats, downloads the Excel-DE CSV that parses back into the leads', async () => {
    const context = await launchBrowser({ viewport: VIEWPORTS.desktop });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const problems = [];
      page.on('console', (msg) => msg.type() === 'error' && problems.push(msg.text()));
      page.on('pageerror', (error) => problems.push(error.message));

      await page.goto(`${server.url}/admin`);
      const tokenField = page.getByLabel('Zugangsschlüssel');
      await tokenField.waitFor();
      assert.deepEqual(await axeViolations(page), [], 'axe on the sign-in form');

      // A wrong key: German message, announced, no cookie.
      await tokenField.fill('falsch-falsch-falsch');
      await page.getByRole('button', { name: 'Anmelden' }).click();
      await page.getByRole('alert').filter({ hasText: 'Der Zugangsschlüssel ist falsch.' }).waitFor();
      assert.equal((await context.cookies()).length, 0);

      await tokenField.fill(OPS_TOKEN);
      await page.getByRole('button', { name: 'Anmelden' }).click();
      await page.getByRole('heading', { name: 'Kennzahlen' }).waitFor();
      await page
        .getByTestId('total')
        .filter({ hasText: String(LEADS.length) })
        .waitFor();
      const kpis = await page.locator('.kpis').innerText();
      assert.match(kpis, new RegExp(`Gewinnspiel-Teilnahmen\\s+${ENTRIES.length}\\b`));
      assert.match(kpis, /Bestätigt\s+3\b/);
      const sourceTable = await page.getByRole('table', { name: 'Nach UTM-Quelle' }).innerText();
      assert.match(sourceTable, /newsletter\s+2/);
      assert.match(sourceTable, /facebook\s+1/);
      assert.equal(await page.locator('.chart svg[role="img"] rect').count(), 1, 'one day, one bar');

      const [cookie] = await context.cookies();
      assert.equal(cookie.name, '__Host-admin_session');
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, 'Strict');
      assert.equal(cookie.value.includes(OPS_TOKEN), false);

      assert.deepEqual(await axeViolations(page), [], 'axe on the dashboard');

      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('link', { name: 'Excel (CSV, deutsch) herunterladen' }).click(),
      ]);
      assert.match(download.suggestedFilename(), /^leads-excel-\d{4}-\d{2}-\d{2}\.csv$/);
      const bytes = readFileSync(await download.path());
      assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'UTF-8 BOM');
      const rows = parseCsv(bytes.subarray(3).toString('utf8'), ';');
      assert.deepEqual(rows[0].slice(0, 4), ['ID', 'E-Mail', 'Vorname', 'Status']);
      const byEmail = new Map(rows.slice(1).map((r) => [r[1], r]));
      assert.equal(byEmail.size, LEADS.length);

      // The same leads as in D1: id, address, name, status, confirmed giveaway entry.
      const stored = await queryD1(server.persistDir, 'SELECT id, email FROM leads');
      assert.equal(stored.length, LEADS.length);
      for (const lead of LEADS) {
        const row = byEmail.get(lead.email);
        assert.ok(row, lead.email);
        assert.equal(row[0], stored.find((r) => r.email === lead.email).id);
        assert.equal(row[2], lead.firstName);
        assert.equal(row[3], lead.confirm ? 'bestätigt' : 'unbestätigt');
        assert.equal(row[7], ENTRIES.includes(lead) ? 'ja' : 'nein');
        assert.equal(row[9], lead.utm_source ?? '');
      }

      // The draw: one winner among the confirmed entries, its hash that of their sorted ids.
      if (ENTRIES.length) {
        const draw = page.getByRole('region', { name: 'Gewinnspiel-Auslosung' });
        await draw.getByRole('button', { name: 'Auslosen' }).click();
        await draw.getByRole('status').filter({ hasText: 'Die Gewinner wurden ausgelost' }).waitFor();
        const winner = (await draw.locator('ol > li').innerText()).trim();
        assert.ok(
          ENTRIES.some((l) => winner.startsWith(l.email)),
          `${winner} is one of the entries`,
        );
        const ids = ENTRIES.map((l) => byEmail.get(l.email)[0]).sort();
        const hash = createHash('sha256').update(ids.join('\n')).digest('hex');
        assert.equal((await draw.locator('code').innerText()).trim(), hash);
        assert.deepEqual(await axeViolations(page), [], 'axe on the dashboard with a draw');
      }

      await page.getByRole('button', { name: 'Abmelden' }).click();
      await page.getByLabel('Zugangsschlüssel').waitFor();
      // The 401s of "who is signed in?" before sign-in and of the wrong key are expected.
      const unexpected = problems.filter((p) => !/Failed to load resource: .*401/.test(p));
      assert.deepEqual(unexpected, [], 'no other console error, no CSP violation');
    } finally {
      await context.close();
    }
  });

  it('at phone size the dashboard has no horizontal scrolling and the marketing role sees no lead', async () => {
    const context = await launchBrowser({ viewport: VIEWPORTS.phone });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`${server.url}/admin`);
      await page.getByLabel('Zugangsschlüssel').fill('dev-only-marketing-token-0123456789abcdef');
      await page.getByRole('button', { name: 'Anmelden' }).click();
      await page.getByRole('button', { name: 'Abmelden' }).waitFor();
      assert.equal(await page.getByText('e2e-ops-1@example.com').count(), 0);
      assert.equal(await page.getByRole('heading', { name: 'Kennzahlen' }).count(), 0);
      const res = await page.evaluate(async () => (await fetch('/api/admin/stats')).status);
      assert.equal(res, 403);
      await page.getByRole('button', { name: 'Abmelden' }).click();

      await page.getByLabel('Zugangsschlüssel').fill(OPS_TOKEN);
      await page.getByRole('button', { name: 'Anmelden' }).click();
      await page.getByTestId('total').waitFor();
      // Measure with every panel filled: the confirmation mails of the leads registered
      // before (the queue batches for up to 5 s) are in the dev outbox, whose long links
      // once widened the page by 11 px when they happened to be there in time.
      const outbox = page.getByRole('region', { name: 'Lokaler Postausgang (nur Entwicklung)' });
      const mails = outbox.locator('ol.outbox > li');
      for (let i = 0; i < 40 && (await mails.count()) === 0; i++) {
        await page.waitForTimeout(500);
        await outbox.getByRole('button', { name: 'Aktualisieren' }).click();
      }
      await mails.first().waitFor();
      await page.getByRole('heading', { name: 'Fehlgeschlagene E-Mails' }).waitFor();
      const { overflow, widest } = await page.evaluate(() => ({
        overflow: document.documentElement.scrollWidth - window.innerWidth,
        // The innermost elements past the right edge and not inside a scroll box: the culprits.
        widest: [...document.querySelectorAll('body *')]
          .filter(
            (el) => el.getBoundingClientRect().right > window.innerWidth + 0.5 && !el.closest('.scroll'),
          )
          .filter(
            (el) => ![...el.children].some((c) => c.getBoundingClientRect().right > window.innerWidth + 0.5),
          )
          .slice(0, 5)
          .map((el) => `<${el.tagName.toLowerCase()}> ${(el.textContent ?? '').trim().slice(0, 60)}`),
      }));
      assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone:\n${widest.join('\n')}`);
    } finally {
      await context.close();
    }
  });
});

describe('npm run leads:export (CLI)', () => {
  const run = promisify(execFile);
  /** Runs the CLI with tsx; resolves with { code, stdout, stderr } whatever the exit code. */
  async function cli(args) {
    try {
      const { stdout, stderr } = await run(
        process.execPath,
        [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), join(ROOT, 'scripts/leads-export.ts'), ...args],
        { cwd: ROOT },
      );
      return { code: 0, stdout, stderr };
    } catch (error) {
      return { code: error.code, stdout: error.stdout, stderr: error.stderr };
    }
  }

  it('writes the NDJSON export and reports the count', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'leads-cli-'));
    try {
      const out = join(dir, 'leads.ndjson');
      const r = await cli(['--url', server.url, '--token', OPS_TOKEN, '--out', out]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`${LEADS.length} Leads nach`));
      const lines = readFileSync(out, 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.deepEqual(lines.map((l) => l.email).sort(), LEADS.map((l) => l.email).sort());
      assert.deepEqual(readdirSync(dir), ['leads.ndjson'], 'no temp file left');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits non-zero with a clear message and leaves no file on auth or network failure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'leads-cli-'));
    try {
      const out = join(dir, 'leads.csv');
      const auth = await cli(['--url', server.url, '--token', 'falsch-falsch-falsch', '--out', out]);
      assert.equal(auth.code, 2);
      assert.match(auth.stderr, /Zugriff verweigert \(401\)/);
      const marketing = await cli([
        '--url',
        server.url,
        '--token',
        'dev-only-marketing-token-0123456789abcdef',
        '--out',
        out,
      ]);
      assert.equal(marketing.code, 2);
      assert.match(marketing.stderr, /Zugriff verweigert \(403\)/);
      const badFilter = await cli([
        '--url',
        server.url,
        '--token',
        OPS_TOKEN,
        '--out',
        out,
        '--since',
        'gestern',
      ]);
      assert.equal(badFilter.code, 2);
      assert.match(badFilter.stderr, /Ungültiges Datum/);
      const network = await cli(['--url', 'http://127.0.0.1:9', '--token', OPS_TOKEN, '--out', out]);
      assert.equal(network.code, 3);
      assert.match(network.stderr, /Server nicht erreichbar/);
      assert.equal(existsSync(out), false);
      assert.deepEqual(readdirSync(dir), []);

      // A download that breaks off after some rows: no file, not even a partial one.
      const broken = createServer((req, res) => {
        res.writeHead(200, { 'content-type': 'text/csv' });
        res.write('id,email\r\n1,a@example.com\r\n');
        setTimeout(() => res.socket.destroy(), 100);
      });
      await new Promise((r) => broken.listen(0, '127.0.0.1', r));
      try {
        const cut = await cli([
          '--url',
          `http://127.0.0.1:${broken.address().port}`,
          '--token',
          OPS_TOKEN,
          '--out',
          out,
        ]);
        assert.equal(cut.code, 3);
        assert.match(cut.stderr, /Der Download brach ab; es wurde keine Datei geschrieben/);
        assert.deepEqual(readdirSync(dir), []);
      } finally {
        broken.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
