/**
 * The visitor's journey through the built app (vite preview → workerd) in real Chromium:
 * content at phone and desktop size, layout and tap targets, registration with and
 * without JavaScript, inline validation, accessibility (axe), privacy promises (no
 * third-party request, no font, no cookie, no CSP violation) and UTM attribution.
 *
 * One server for the file, with ENVIRONMENT=production (the deployed CSP and HTML cache)
 * and its own empty KV; every registration uses a fresh address
 * and is looked up by it, so tests do not depend on each other.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AxeBuilder } from '@axe-core/playwright';
import { launchBrowser, VIEWPORTS, pauseLikeAPerson } from '../helpers/browser.mjs';
import { leadsStartingWith, leadWithConsents } from '../helpers/d1.mjs';
import { startServer } from '../helpers/server.mjs';

const TITLE = 'Finanzielle Selbstverteidigung: So retten Sie Ihr Vermögen';
const SPEAKERS = [
  'Dominik Kettner',
  'Dieter Bohlen',
  'Prof. Dr. Werner Patzelt',
  'Peter Hahne',
  'Fürstin Thurn und Taxis',
  'Jochen Staiger',
];
const GIVEAWAY = '15.000 € Gold zu gewinnen';
const REASSURANCE = 'Keine Kreditkarte erforderlich • Keine versteckten Kosten';
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
let emailCounter = 0;
/** A fresh address per registration, so KV lookups are unambiguous. */
const freshEmail = (tag) => `e2e-${tag}-${Date.now().toString(36)}-${++emailCounter}@example.com`;

before(async () => {
  server = await startServer({ environment: 'production' });
});

after(async () => {
  await server?.stop();
  server?.cleanup();
});

/**
 * Open a page in a fresh browser and record what a privacy or CSP check needs.
 * @param {{ javaScriptEnabled?: boolean, viewport?: {width:number,height:number} }} [options]
 */
async function openBrowser(options = {}) {
  const context = await launchBrowser(options);
  const page = context.pages()[0] ?? (await context.newPage());
  const seen = { requests: [], consoleErrors: [], pageErrors: [] };
  context.on('request', (req) => seen.requests.push({ url: req.url(), type: req.resourceType() }));
  page.on('console', (msg) => {
    if (msg.type() === 'error') seen.consoleErrors.push(msg.text());
  });
  page.on('pageerror', (error) => seen.pageErrors.push(error.message));
  // Runs before any page script; CSP does not apply to scripts injected through CDP.
  await context.addInitScript(() => {
    // @ts-ignore
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      // @ts-ignore
      window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`),
    );
  });
  return { context, page, seen };
}

/** Resolves once the form island is hydrated (it switches off native validation then). */
async function waitForHydration(page) {
  await page.waitForFunction(() => document.querySelector('#register-form form')?.noValidate === true);
}

/** The stored lead for an address: its D1 row and its consents by kind. */
async function leadFor(email) {
  const stored = await leadWithConsents(server.persistDir, email);
  assert.ok(stored, `no lead stored for ${email}`);
  const consent = Object.fromEntries(
    stored.consents.filter((c) => c.status !== 'withdrawn').map((c) => [c.kind, c]),
  );
  return { lead: stored.lead, consent };
}

async function fillForm(page, { email, firstName, privacy = true, giveaway = false }) {
  await page.getByLabel('E-Mail-Adresse').fill(email);
  if (firstName !== undefined) await page.getByLabel('Vorname').fill(firstName);
  if (privacy) await page.locator('#reg-privacy').check();
  if (giveaway) await page.locator('#reg-giveaway').check();
}

/** Calendar links a visitor can click after registering. */
async function assertCalendarLinks(page) {
  for (const name of ['Apple / Outlook (.ics)', 'Google Kalender', 'Outlook.com']) {
    const link = page.getByRole('link', { name });
    assert.ok(await link.isVisible(), `calendar link "${name}" is visible`);
  }
  assert.equal(
    await page.getByRole('link', { name: 'Apple / Outlook (.ics)' }).getAttribute('href'),
    '/webinar.ics',
  );
}

async function axeViolations(page) {
  const result = await new AxeBuilder({ page }).withTags(AXE_TAGS).analyze();
  return result.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
  );
}

/**
 * Interactive elements that fail WCAG 2.5.8 (target size, minimum) in the current layout.
 * A target passes when it is at least 44 px high and 24 px wide (our own bar), is an
 * inline link inside a sentence (the "inline" exception), is at least 24×24 px, or when a
 * 24 px circle on its centre touches no other target (the "spacing" exception).
 * Checkboxes are judged with their label, which is part of the click target.
 */
function targetSizeFailures(page) {
  return page.evaluate(() => {
    const isVisible = (el) => {
      const b = el.getBoundingClientRect();
      return b.width > 0 && b.height > 0 && !el.closest('[aria-hidden="true"], [hidden]');
    };
    const targets = [...document.querySelectorAll('a[href], button, input, select, textarea')].filter(
      (el) => isVisible(el) && el.type !== 'hidden',
    );
    const rects = targets.map((el) => el.getBoundingClientRect());
    const failures = [];
    targets.forEach((el, i) => {
      const b = rects[i];
      let box = { width: b.width, height: b.height };
      if (el.type === 'checkbox' || el.type === 'radio') {
        const label = el.labels?.[0]?.getBoundingClientRect();
        if (label) {
          const top = Math.min(b.top, label.top);
          const bottom = Math.max(b.bottom, label.bottom);
          box = { width: b.width, height: bottom - top };
          if (b.width < 24 || b.height < 24)
            failures.push(`checkbox ${el.name}: box ${Math.round(b.width)}×${Math.round(b.height)}`);
        }
      }
      if (box.height >= 44 && box.width >= 24) return;
      const style = getComputedStyle(el);
      const parentText = (el.parentElement?.textContent ?? '').replace(/\s+/g, ' ').trim();
      const ownText = (el.textContent ?? '').replace(/\s+/g, ' ').trim();
      if (style.display === 'inline' && parentText.length > ownText.length) return;
      if (box.width >= 24 && box.height >= 24) return;
      const cx = b.left + b.width / 2;
      const cy = b.top + b.height / 2;
      const clear = rects.every((o, j) => {
        if (j === i) return true;
        const dx = Math.max(o.left - cx, 0, cx - o.right);
        const dy = Math.max(o.top - cy, 0, cy - o.bottom);
        return Math.hypot(dx, dy) >= 12;
      });
      if (!clear)
        failures.push(
          `${el.tagName.toLowerCase()} "${ownText || el.name}": ${Math.round(b.width)}×${Math.round(b.height)}`,
        );
    });
    // Our own bar for the controls a visitor uses most: 44 px high.
    for (const el of document.querySelectorAll(
      'button, .cta, .btn, input[type="email"], input[type="text"]',
    )) {
      if (!isVisible(el) || el.closest('.hp')) continue;
      const h = el.getBoundingClientRect().height;
      if (h < 44)
        failures.push(`${el.tagName.toLowerCase()}.${el.className || el.name} only ${Math.round(h)} px high`);
    }
    return failures;
  });
}

for (const [size, viewport] of [
  ['phone 390×844', VIEWPORTS.phone],
  ['desktop 1366×768', VIEWPORTS.desktop],
]) {
  describe(`landing page at ${size}`, () => {
    it('shows the title, all six speakers, the giveaway and the reassurance line', async () => {
      const { context, page } = await openBrowser({ viewport });
      try {
        await page.goto(server.url + '/');
        assert.equal((await page.locator('h1').innerText()).trim(), TITLE);
        for (const name of SPEAKERS) {
          const heading = page.getByRole('heading', { name, exact: true });
          assert.ok(await heading.isVisible(), `speaker ${name} is visible`);
        }
        assert.ok(await page.getByRole('heading', { name: GIVEAWAY }).isVisible(), 'giveaway headline');
        assert.ok(
          await page.getByText(REASSURANCE).filter({ visible: true }).first().isVisible(),
          'reassurance line',
        );
      } finally {
        await context.close();
      }
    });

    it('has tap targets that meet WCAG 2.5.8 (form controls at least 44 px high)', async () => {
      const { context, page } = await openBrowser({ viewport });
      try {
        await page.goto(server.url + '/');
        await waitForHydration(page);
        assert.deepEqual(await targetSizeFailures(page), []);
      } finally {
        await context.close();
      }
    });
  });
}

describe('layout at 320 px', () => {
  for (const path of ['/', '/danke', '/impressum', '/datenschutz', '/teilnahmebedingungen']) {
    it(`${path} does not scroll sideways`, async () => {
      const { context, page } = await openBrowser({ viewport: VIEWPORTS.narrow });
      try {
        await page.goto(server.url + path);
        const width = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(width <= 320, `scrollWidth ${width} > 320`);
        assert.deepEqual(await targetSizeFailures(page), []);
      } finally {
        await context.close();
      }
    });
  }
});

describe('registration with JavaScript', () => {
  it('shows the thank-you state with calendar links, focuses it and stores a pending lead', async () => {
    const { context, page } = await openBrowser({ viewport: VIEWPORTS.phone });
    const email = freshEmail('js');
    try {
      await page.goto(server.url + '/');
      await waitForHydration(page);
      await fillForm(page, { email, firstName: 'Jürgen', giveaway: true });
      await page.getByRole('button', { name: 'Jetzt kostenlos anmelden' }).click();

      const heading = page.locator('.thanks h3');
      await heading.waitFor({ state: 'visible' });
      assert.match(await heading.innerText(), /\S/);
      assert.equal(await page.evaluate(() => document.activeElement?.matches('.thanks h3')), true);
      assert.equal(page.url(), server.url + '/', 'no navigation: the page stays');
      await assertCalendarLinks(page);
      assert.deepEqual(await axeViolations(page), [], 'axe on the thank-you state');

      const { lead, consent } = await leadFor(email);
      assert.equal(lead.status, 'pending');
      assert.equal(lead.first_name, 'Jürgen');
      assert.equal(lead.phase, 'before');
      assert.ok(Date.now() - lead.created_at < 60_000, 'createdAt is now');
      assert.equal(lead.email.toLowerCase(), email.toLowerCase());
      assert.equal(consent.privacy?.status, 'pending', 'privacy consent recorded, awaiting confirmation');
      assert.equal(consent.giveaway?.status, 'pending', 'giveaway entry recorded, awaiting confirmation');
      assert.equal(consent.newsletter, undefined, 'newsletter was not ticked');
      assert.equal(lead.landing_path, '/');
      assert.match(consent.privacy.given_ua, /Chrome/);
    } finally {
      await context.close();
    }
  });

  it('explains an invalid email in German when the visitor leaves the field', async () => {
    const { context, page } = await openBrowser({ viewport: VIEWPORTS.phone });
    try {
      await page.goto(server.url + '/');
      await waitForHydration(page);
      const input = page.getByLabel('E-Mail-Adresse');
      await input.fill('max.mustermann');
      await input.blur();
      const error = page.locator('#email-error');
      await error.waitFor({ state: 'visible' });
      assert.match(await error.innerText(), /gültige E-Mail-Adresse/);
      assert.equal(await input.getAttribute('aria-invalid'), 'true');
      assert.ok((await input.getAttribute('aria-describedby'))?.split(' ').includes('email-error'));

      // Correcting it clears the message.
      await input.fill('max@example.com');
      await page.waitForFunction(() => document.getElementById('email-error')?.hidden === true);
      assert.equal(await input.getAttribute('aria-invalid'), null);
    } finally {
      await context.close();
    }
  });

  it('sends a click on the button straight from an invalid email field back to that field', async () => {
    // Regression: the blur message used to push the button away under the pointer at
    // desktop width, so the click was lost and nothing happened.
    const { context, page } = await openBrowser({ viewport: VIEWPORTS.desktop });
    try {
      await page.goto(server.url + '/');
      await waitForHydration(page);
      await page.locator('#reg-privacy').check();
      await page.getByLabel('E-Mail-Adresse').fill('max.mustermann');
      await page.getByRole('button', { name: 'Jetzt kostenlos anmelden' }).click();
      await page.waitForFunction(() => document.activeElement?.id === 'reg-email');
      assert.match(await page.locator('#email-error').innerText(), /gültige E-Mail-Adresse/);
      assert.match(await page.getByRole('alert').innerText(), /korrigieren/);
    } finally {
      await context.close();
    }
  });

  it('moves focus to the first invalid field when privacy is not accepted', async () => {
    const { context, page, seen } = await openBrowser({ viewport: VIEWPORTS.desktop });
    try {
      await page.goto(server.url + '/');
      await waitForHydration(page);
      const posts = () => seen.requests.filter((r) => r.url.endsWith('/api/register')).length;
      await fillForm(page, { email: freshEmail('noprivacy'), privacy: false });
      await page.getByRole('button', { name: 'Jetzt kostenlos anmelden' }).click();
      await page.locator('#privacy-error').waitFor({ state: 'visible' });
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'reg-privacy');
      assert.match(await page.locator('#privacy-error').innerText(), /Datenschutzhinweise/);
      assert.equal(await page.locator('#reg-privacy').getAttribute('aria-invalid'), 'true');
      assert.match(await page.getByRole('alert').innerText(), /korrigieren/);
      assert.equal(posts(), 0, 'nothing was sent');

      // With everything empty, the email field comes first.
      await page.getByLabel('E-Mail-Adresse').fill('');
      await page.getByRole('button', { name: 'Jetzt kostenlos anmelden' }).click();
      await page.waitForFunction(() => document.activeElement?.id === 'reg-email');
      assert.match(await page.locator('#email-error').innerText(), /E-Mail-Adresse ein/);
    } finally {
      await context.close();
    }
  });
});

describe('registration without JavaScript', () => {
  it('posts the form, follows the 303 to /danke with calendar links and stores the lead', async () => {
    const { context, page } = await openBrowser({ javaScriptEnabled: false, viewport: VIEWPORTS.phone });
    const email = freshEmail('nojs');
    try {
      await page.goto(server.url + '/');
      await fillForm(page, { email, firstName: 'Anna', giveaway: true });
      await pauseLikeAPerson(page);
      const [postResponse] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/api/register') && r.request().method() === 'POST'),
        page.getByRole('button', { name: 'Jetzt kostenlos anmelden' }).click(),
      ]);
      assert.equal(postResponse.status(), 303);
      assert.equal(postResponse.headers()['location'], '/danke');
      // The form's action carries #anmeldung, which the browser keeps across the redirect.
      await page.waitForURL((u) => u.pathname === '/danke');
      assert.ok(await page.getByRole('heading', { level: 1 }).isVisible());
      await assertCalendarLinks(page);

      const { lead, consent } = await leadFor(email);
      assert.equal(lead.status, 'pending');
      assert.equal(lead.first_name, 'Anna');
      assert.equal(consent.giveaway?.status, 'pending');
      assert.equal(lead.landing_path, '/');
    } finally {
      await context.close();
    }
  });

  it('re-renders the form with the typed values and a German error for an invalid email', async () => {
    const { context, page } = await openBrowser({ javaScriptEnabled: false, viewport: VIEWPORTS.phone });
    // Passes the browser's own type=email check (no JS, no novalidate), fails ours.
    const email = `e2e-invalid-${++emailCounter}@beispiel`;
    try {
      await page.goto(server.url + '/');
      await fillForm(page, { email, firstName: 'Bernd', giveaway: true });
      await pauseLikeAPerson(page);
      const [postResponse] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/api/register') && r.request().method() === 'POST'),
        page.getByRole('button', { name: 'Jetzt kostenlos anmelden' }).click(),
      ]);
      assert.equal(postResponse.status(), 400);
      await page.waitForLoadState('domcontentloaded');
      assert.equal(await page.getByLabel('E-Mail-Adresse').inputValue(), email);
      assert.equal(await page.getByLabel('Vorname').inputValue(), 'Bernd');
      assert.equal(await page.locator('#reg-privacy').isChecked(), true);
      assert.equal(await page.locator('#reg-giveaway').isChecked(), true);
      assert.equal(await page.locator('#reg-newsletter').isChecked(), false);
      const error = page.locator('#email-error');
      assert.ok(await error.isVisible());
      assert.match(await error.innerText(), /gültige E-Mail-Adresse/);
      assert.equal(await page.getByLabel('E-Mail-Adresse').getAttribute('aria-invalid'), 'true');
      assert.match(await page.getByRole('alert').innerText(), /korrigieren/);
      assert.equal((await page.locator('h1').innerText()).trim(), TITLE, 'the whole page is there');
      assert.equal(await leadsStartingWith(server.persistDir, 'e2e-invalid-'), 0, 'nothing stored');
    } finally {
      await context.close();
    }
  });
});

describe('accessibility (axe, WCAG 2.2 AA)', () => {
  for (const path of ['/', '/danke', '/impressum', '/datenschutz', '/teilnahmebedingungen']) {
    it(`finds no violation on ${path}`, async () => {
      const { context, page } = await openBrowser({ viewport: VIEWPORTS.phone });
      try {
        await page.goto(server.url + path);
        if (path === '/') await waitForHydration(page);
        assert.deepEqual(await axeViolations(page), []);
      } finally {
        await context.close();
      }
    });
  }
});

describe('privacy and security promises on page load', () => {
  for (const javaScriptEnabled of [true, false]) {
    it(`loads / with JavaScript ${javaScriptEnabled ? 'on' : 'off'}: same origin only, no font, no cookie, no CSP violation, no error`, async () => {
      const { context, page, seen } = await openBrowser({ javaScriptEnabled, viewport: VIEWPORTS.phone });
      try {
        await page.goto(server.url + '/', { waitUntil: 'load' });
        if (javaScriptEnabled) await waitForHydration(page);
        await page.waitForLoadState('networkidle');
        const origin = new URL(server.url).origin;
        const foreign = seen.requests.filter(
          (r) => !r.url.startsWith('data:') && new URL(r.url).origin !== origin,
        );
        assert.deepEqual(foreign, [], 'no request to another origin');
        assert.deepEqual(
          seen.requests.filter((r) => r.type === 'font'),
          [],
          'no web font',
        );
        assert.ok(seen.requests.length >= 1);
        if (javaScriptEnabled)
          assert.ok(
            seen.requests.some((r) => r.type === 'script'),
            'the island script loaded (so the checks above covered it)',
          );
        assert.deepEqual(await context.cookies(), [], 'no cookie');
        if (javaScriptEnabled)
          assert.deepEqual(await page.evaluate(() => window.__csp), [], 'no CSP violation');
        assert.deepEqual(seen.consoleErrors, [], 'no console error');
        assert.deepEqual(seen.pageErrors, [], 'no page error');
      } finally {
        await context.close();
      }
    });
  }

  it('keeps the promises on the other visitor pages and through a registration', async () => {
    const { context, page, seen } = await openBrowser({ viewport: VIEWPORTS.phone });
    try {
      for (const path of ['/danke', '/impressum', '/datenschutz', '/teilnahmebedingungen']) {
        await page.goto(server.url + path, { waitUntil: 'load' });
        assert.deepEqual(await page.evaluate(() => window.__csp), [], `no CSP violation on ${path}`);
      }
      await page.goto(server.url + '/');
      await waitForHydration(page);
      await fillForm(page, { email: freshEmail('promises') });
      await page.getByRole('button', { name: 'Jetzt kostenlos anmelden' }).click();
      await page.locator('.thanks h3').waitFor({ state: 'visible' });
      assert.deepEqual(await page.evaluate(() => window.__csp), [], 'no CSP violation after registering');
      const origin = new URL(server.url).origin;
      assert.deepEqual(
        seen.requests.filter((r) => !r.url.startsWith('data:') && new URL(r.url).origin !== origin),
        [],
      );
      assert.deepEqual(
        seen.requests.filter((r) => r.type === 'font'),
        [],
      );
      assert.deepEqual(await context.cookies(), [], 'no cookie, also after registering');
      assert.deepEqual(seen.consoleErrors, []);
      assert.deepEqual(seen.pageErrors, []);
    } finally {
      await context.close();
    }
  });
});

describe('UTM attribution', () => {
  const landing = '/?utm_source=newsletter&utm_campaign=launch';
  for (const javaScriptEnabled of [true, false]) {
    it(`stores utm_source and utm_campaign with JavaScript ${javaScriptEnabled ? 'on' : 'off'}`, async () => {
      const { context, page } = await openBrowser({ javaScriptEnabled, viewport: VIEWPORTS.desktop });
      const email = freshEmail(javaScriptEnabled ? 'utm-js' : 'utm-nojs');
      try {
        await page.goto(server.url + landing);
        if (javaScriptEnabled) await waitForHydration(page);
        await fillForm(page, { email });
        await pauseLikeAPerson(page);
        await page.getByRole('button', { name: 'Jetzt kostenlos anmelden' }).click();
        if (javaScriptEnabled) await page.locator('.thanks h3').waitFor({ state: 'visible' });
        else await page.waitForURL((u) => u.pathname === '/danke');

        const { lead, consent } = await leadFor(email);
        assert.equal(lead.utm_source, 'newsletter');
        assert.equal(lead.utm_campaign, 'launch');
        assert.equal(lead.utm_medium, null);
        assert.equal(lead.landing_path, '/');
        assert.equal(consent.giveaway, undefined, 'giveaway not ticked');
      } finally {
        await context.close();
      }
    });
  }
});
