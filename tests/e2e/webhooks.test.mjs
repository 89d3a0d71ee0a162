/**
 * Webhooks end to end against the built app (vite preview → workerd, local queues): a
 * receiver on 127.0.0.1 (a node http server on a port of this run's range) gets
 * `lead.confirmed` after a confirmation, verifies the signature with the secret the API
 * showed once, answers 500 the first time and gets the same `webhook-id` again; an erasure
 * through the mail's link delivers `lead.erased` with the address. Then ops add an
 * endpoint in the admin (field message for a private address, the secret shown once),
 * axe clean.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { AxeBuilder } from '@axe-core/playwright';
import { Webhook } from 'standardwebhooks';
import { launchBrowser, VIEWPORTS } from '../helpers/browser.mjs';
import { registerJson } from '../helpers/register.mjs';
import { nextPort, startServer } from '../helpers/server.mjs';

const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
/** The local value from .dev.vars.example, which `vite preview` uses. */
const OPS_TOKEN = 'dev-only-ops-token-0123456789abcdef';
const ops = { authorization: `Bearer ${OPS_TOKEN}` };
const LONG_URL = `https://hooks.example.com/catch/1234567/${'a1b2c3d4e5'.repeat(8)}/`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('node:http').Server} */
let rx;
let rxPort = 0;
/** Requests the receiver got: { headers, body, status it answered }. */
const received = [];
/** How many lead.confirmed requests still get a 500. */
let failConfirmed = 1;

before(async () => {
  rxPort = nextPort();
  rx = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      let type = '';
      try {
        type = JSON.parse(body).type;
      } catch {
        /* not JSON: answered like any other */
      }
      const status = type === 'lead.confirmed' && failConfirmed-- > 0 ? 500 : 200;
      received.push({ headers: req.headers, body, status, type });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'kaputt');
    });
  });
  await new Promise((resolve) => rx.listen(rxPort, '127.0.0.1', resolve));
  server = await startServer();
});

after(async () => {
  rx?.close();
  await server?.stop();
  server?.cleanup();
});

async function api(path, init = {}) {
  const res = await fetch(`${server.url}${path}`, {
    ...init,
    headers: { 'content-type': 'application/json', ...ops, ...init.headers },
  });
  return { status: res.status, body: await res.json() };
}

async function waitFor(what, check, timeoutMs = 60_000) {
  for (const deadline = Date.now() + timeoutMs; ; await sleep(300)) {
    const found = await check();
    if (found) return found;
    if (Date.now() > deadline)
      throw new Error(`${what} did not happen within ${timeoutMs} ms:\n${server.output()}`);
  }
}

const mailTo = (to, kind) =>
  waitFor(`a ${kind} mail`, async () => {
    const { body } = await api('/api/admin/dev/outbox');
    return body.mails.find((m) => m.to === to && m.kind === kind);
  });

/** POSTs the token of a mail link to its page, as the button there does. */
async function follow(mail, path) {
  const link = new URL(mail.links.find((l) => l.startsWith(`${server.url}${path}?t=`)));
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ t: link.searchParams.get('t') }),
  });
  assert.equal(res.status, 200, await res.text());
}

describe('webhooks to a receiver on this machine', () => {
  /** @type {string} */
  let secret;
  const email = `e2e-hook-${Date.now().toString(36)}@example.com`;

  it(
    'deliver lead.confirmed signed, and retry a 500 with the same webhook-id',
    { timeout: 120_000 },
    async () => {
      const created = await api('/api/admin/webhooks', {
        method: 'POST',
        body: JSON.stringify({
          url: `http://127.0.0.1:${rxPort}/hook`,
          events: ['lead.confirmed', 'lead.erased'],
        }),
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      secret = created.body.secret;

      const reg = await registerJson(server.url, {
        email,
        firstName: 'Hook',
        privacy: true,
        newsletter: true,
      });
      assert.equal(reg.status, 200, await reg.text());
      await follow(await mailTo(email, 'confirm'), '/bestaetigen');

      const confirmed = await waitFor('a second lead.confirmed request', () => {
        const list = received.filter((r) => r.type === 'lead.confirmed');
        return list.length >= 2 ? list : null;
      });
      assert.deepEqual(
        confirmed.map((r) => r.status),
        [500, 200],
      );
      assert.equal(confirmed[1].headers['webhook-id'], confirmed[0].headers['webhook-id']);
      const payload = new Webhook(secret).verify(confirmed[1].body, confirmed[1].headers);
      assert.equal(payload.type, 'lead.confirmed');
      assert.equal(payload.data.email, email);
      assert.deepEqual(payload.data.consents.map((c) => c.kind).sort(), ['newsletter', 'privacy']);
      // The retry came within 30 s of the first attempt (plus the queue's batch wait).
      const gap =
        Number(confirmed[1].headers['webhook-timestamp']) - Number(confirmed[0].headers['webhook-timestamp']);
      assert.ok(gap >= 14 && gap <= 40, `retry after ${gap} s`);

      const { body } = await api('/api/admin/webhooks');
      const delivery = body.endpoints[0].deliveries.find((d) => d.eventType === 'lead.confirmed');
      assert.equal(delivery.state, 'delivered');
      assert.equal(delivery.attempts, 2);
      assert.equal(delivery.id, confirmed[0].headers['webhook-id']);
    },
  );

  it(
    'deliver lead.erased with the address after an erasure through the mail link',
    { timeout: 60_000 },
    async () => {
      await follow(await mailTo(email, 'welcome'), '/loeschen');
      // No mail follows an erasure: the every-minute cron moves its event on. Miniflare's
      // trigger endpoint runs it; under `vite preview` the request must name the worker.
      const cron = await fetch(
        `${server.url}/cdn-cgi/handler/scheduled?cron=${encodeURIComponent('* * * * *')}`,
        {
          headers: { 'MF-Route-Override': 'webinar-landing' },
        },
      );
      assert.equal(cron.status, 200, await cron.text());
      const erased = await waitFor('a lead.erased request', () =>
        received.find((r) => r.type === 'lead.erased'),
      );
      const payload = new Webhook(secret).verify(erased.body, erased.headers);
      assert.equal(payload.data.email, email);
      assert.match(payload.data.leadId, /^[0-9a-f]{64}$/);
    },
  );
});

describe('the Webhooks panel in the ops admin', () => {
  it(
    'refuses a private address at the field, shows a new secret once, and is axe clean',
    { timeout: 60_000 },
    async () => {
      const context = await launchBrowser({ viewport: VIEWPORTS.desktop });
      try {
        const page = context.pages()[0] ?? (await context.newPage());
        const problems = [];
        page.on('pageerror', (error) => problems.push(error.message));
        page.on(
          'console',
          (msg) => msg.type() === 'error' && !/status of 4\d\d/.test(msg.text()) && problems.push(msg.text()),
        );
        // One endpoint with a long URL and a delivery, for the phone-size checks at the end.
        const long = await api('/api/admin/webhooks', {
          method: 'POST',
          body: JSON.stringify({ url: LONG_URL, events: ['lead.erased'] }),
        });
        assert.equal(long.status, 201);
        await api(`/api/admin/webhooks/${long.body.id}/test`, { method: 'POST' });
        await page.goto(`${server.url}/admin`);
        await page.getByLabel('Zugangsschlüssel').fill(OPS_TOKEN);
        await page.getByRole('button', { name: 'Anmelden' }).click();
        await page.getByRole('heading', { name: 'Webhooks', exact: true }).waitFor();

        const url = page.getByLabel('Empfänger-URL');
        await url.fill('https://169.254.169.254/latest/');
        await page.getByLabel(/Anmeldung bestätigt/).check();
        await page.getByRole('button', { name: 'Endpunkt anlegen' }).click();
        await page.getByText(/privates, lokales oder reserviertes Netz/).waitFor();
        assert.equal(
          await url.evaluate((el) => el === document.activeElement),
          true,
          'focus on the URL field',
        );
        assert.equal(await url.getAttribute('aria-invalid'), 'true');

        await url.fill('https://hooks.example.com/e2e');
        await page.getByRole('button', { name: 'Endpunkt anlegen' }).click();
        const region = page.getByRole('region', { name: /Signaturschlüssel des neuen Endpunkts/ });
        await region.waitFor();
        const shown = await page.getByLabel('Signaturschlüssel', { exact: true }).inputValue();
        assert.match(shown, /^whsec_/);
        await page.getByRole('heading', { name: 'https://hooks.example.com/e2e' }).waitFor();
        assert.deepEqual(await axeViolations(page), [], 'axe on the webhooks and Brevo panels');

        await page.getByRole('button', { name: 'Ich habe den Schlüssel gespeichert' }).click();
        await page.reload();
        await page.getByRole('heading', { name: 'https://hooks.example.com/e2e' }).waitFor();
        assert.equal((await page.content()).includes(shown), false, 'the secret is never shown again');

        // At phone size the endpoints (long URLs, delivery tables) do not widen the page.
        await page.setViewportSize(VIEWPORTS.phone);
        await page.getByRole('heading', { name: LONG_URL }).waitFor();
        const { overflow, widest } = await page.evaluate(() => ({
          overflow: document.documentElement.scrollWidth - window.innerWidth,
          widest: [...document.querySelectorAll('body *')]
            .filter(
              (el) => el.getBoundingClientRect().right > window.innerWidth + 0.5 && !el.closest('.scroll'),
            )
            .filter(
              (el) =>
                ![...el.children].some((c) => c.getBoundingClientRect().right > window.innerWidth + 0.5),
            )
            .slice(0, 5)
            .map((el) => `<${el.tagName.toLowerCase()}> ${(el.textContent ?? '').trim().slice(0, 60)}`),
        }));
        assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone:\n${widest.join('\n')}`);
        assert.deepEqual(await axeViolations(page), [], 'axe on the panels at phone size');
        assert.deepEqual(problems, []);
      } finally {
        await context.close();
      }
    },
  );
});

async function axeViolations(page) {
  // This file's panels only: the rest of the dashboard has its own tests (tests/e2e/ops.test.mjs).
  const result = await new AxeBuilder({ page })
    .include('section[aria-labelledby="webhooks-heading"]')
    .include('section[aria-labelledby="brevo-heading"]')
    .withTags(AXE_TAGS)
    .analyze();
  return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}
