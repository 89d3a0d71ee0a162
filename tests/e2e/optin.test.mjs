/**
 * Double opt-in in real Chromium against the built app (vite preview → workerd, with the
 * local queue consumer and the dev outbox): register, find the confirmation mail through
 * `GET /api/admin/dev/outbox`, open its link, press the button, see the calendar links;
 * then the welcome mail with the .ics arrives. Once with JavaScript, once without.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AxeBuilder } from '@axe-core/playwright';
import { launchBrowser, VIEWPORTS, pauseLikeAPerson } from '../helpers/browser.mjs';
import { leadWithConsents } from '../helpers/d1.mjs';
import { ROOT, startServer } from '../helpers/server.mjs';

/** The ops token the built app uses locally (dist gets a copy of .dev.vars). */
function devVar(name) {
  for (const file of ['dist/webinar_landing/.dev.vars', '.dev.vars', '.dev.vars.example']) {
    try {
      const m = new RegExp(`^${name}="?([^"\\n]*)"?`, 'm').exec(readFileSync(join(ROOT, file), 'utf8'));
      if (m) return m[1];
    } catch {
      /* try the next file */
    }
  }
  throw new Error(`${name} not found in .dev.vars`);
}

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
let counter = 0;
const freshEmail = (tag) => `e2e-optin-${tag}-${Date.now().toString(36)}-${++counter}@example.com`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
  server?.cleanup();
});

/** Polls the dev outbox until a mail of `kind` to `to` is there (the queue batches for up to 5 s). */
async function waitForMail(to, kind, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${server.url}/api/admin/dev/outbox`, {
      headers: { authorization: `Bearer ${devVar('OPS_TOKEN')}` },
    });
    assert.equal(res.status, 200, `outbox answered ${res.status}: ${await res.clone().text()}`);
    const { mails } = await res.json();
    const mail = mails.find((m) => m.to === to && m.kind === kind);
    if (mail) return mail;
    if (Date.now() > deadline)
      throw new Error(`no ${kind} mail to ${to} within ${timeoutMs} ms:\n${server.output()}`);
    await sleep(500);
  }
}

/** The stored lead for an address: its D1 row and its privacy consent. */
async function leadFor(email) {
  const stored = await leadWithConsents(server.persistDir, email);
  assert.ok(stored, `no lead stored for ${email}`);
  return {
    lead: stored.lead,
    privacy: stored.consents.find((c) => c.kind === 'privacy' && c.status !== 'withdrawn'),
  };
}

async function journey({ javaScriptEnabled, viewport }) {
  const context = await launchBrowser({ javaScriptEnabled, viewport });
  const page = context.pages()[0] ?? (await context.newPage());
  const email = freshEmail(javaScriptEnabled ? 'js' : 'nojs');
  try {
    await page.goto(server.url + '/');
    if (javaScriptEnabled)
      await page.waitForFunction(() => document.querySelector('#register-form form')?.noValidate === true);
    await page.getByLabel('E-Mail-Adresse').fill(email);
    // The mails never carry user-supplied text, not even a plain first name.
    await page.getByLabel('Vorname').fill('Zacharias');
    await page.locator('#reg-privacy').check();
    await pauseLikeAPerson(page);
    const [answer] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/api/register') && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Jetzt kostenlos anmelden' }).click(),
    ]);
    assert.equal(answer.status(), javaScriptEnabled ? 200 : 303);

    const mail = await waitForMail(email, 'confirm');
    assert.equal(mail.subject, 'Bitte bestätigen Sie Ihre Anmeldung zum Webinar');
    assert.doesNotMatch(mail.subject + mail.text + mail.html, /Zacharias/);
    const confirmLink = mail.links.find((l) => l.startsWith(`${server.url}/bestaetigen?t=`));
    assert.ok(confirmLink, `confirm link in ${mail.links.join(', ')}`);
    assert.ok(mail.links.some((l) => l.startsWith(`${server.url}/loeschen?t=`)));
    assert.match(mail.headers['List-Unsubscribe'], new RegExp(`^<${server.url}/abmelden\\?t=`));
    assert.equal(mail.headers['List-Unsubscribe-Post'], 'List-Unsubscribe=One-Click');
    assert.equal((await leadFor(email)).lead.status, 'pending');

    // Opening the link (as a mail scanner would) confirms nothing; the button does.
    await page.goto(confirmLink);
    assert.equal((await leadFor(email)).lead.status, 'pending');
    // axe needs page scripts, so the page is checked in the JavaScript run (it is the same HTML).
    const violations = javaScriptEnabled ? (await new AxeBuilder({ page }).analyze()).violations : [];
    assert.deepEqual(
      violations.map((v) => v.id),
      [],
    );
    await page.getByRole('button', { name: 'Anmeldung jetzt bestätigen' }).click();
    await page
      .getByRole('heading', { level: 1, name: 'Vielen Dank – Ihre Anmeldung ist bestätigt' })
      .waitFor();
    for (const name of ['Apple / Outlook (.ics)', 'Google Kalender', 'Outlook.com'])
      assert.ok(await page.getByRole('link', { name }).isVisible(), `calendar link "${name}"`);

    const { lead, privacy } = await leadFor(email);
    assert.equal(lead.status, 'confirmed');
    assert.equal(privacy.status, 'confirmed');
    assert.ok(privacy.confirmed_at, 'confirmation proof recorded');
    assert.match(privacy.confirmed_ua, /Chrome/);

    const welcome = await waitForMail(email, 'welcome');
    assert.deepEqual(welcome.attachments, ['webinar.ics']);

    // The same link again: a clear page, nothing changes.
    await page.goto(confirmLink);
    await page.getByRole('heading', { level: 1, name: 'Ihre Anmeldung ist bereits bestätigt' }).waitFor();
  } finally {
    await context.close();
  }
}

describe('double opt-in', () => {
  it('confirms through the link in the mail, with JavaScript, on a phone', async () => {
    await journey({ javaScriptEnabled: true, viewport: VIEWPORTS.phone });
  });

  it('confirms through the link in the mail without JavaScript, on a desktop', async () => {
    await journey({ javaScriptEnabled: false, viewport: VIEWPORTS.desktop });
  });
});
