/**
 * Real Chromium (/usr/bin/chromium, headless) for e2e tests, through playwright-core.
 *
 * Every context is a persistent context in a fresh temp profile, so no cookie, cache or
 * storage survives from one test to the next. The flags keep Chromium off the network
 * except for what the page itself requests (no component updates, no sync, no QUIC), so
 * "no request to another origin" assertions see only the page's own requests. Browsers
 * are never downloaded (`npx playwright install` is not used).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags shared by e2e tests and the Lighthouse bench. */
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Viewports named by the device class they stand for. */
export const VIEWPORTS = {
  phone: { width: 390, height: 844 },
  desktop: { width: 1366, height: 768 },
  narrow: { width: 320, height: 640 },
};

/**
 * Launch Chromium with a fresh profile. Closing the context closes the browser and removes
 * the profile.
 * @param {{ javaScriptEnabled?: boolean, viewport?: { width: number, height: number }, locale?: string, hasTouch?: boolean }} [options]
 * @returns {Promise<import('playwright-core').BrowserContext>}
 */
export async function launchBrowser({
  javaScriptEnabled = true,
  viewport = VIEWPORTS.desktop,
  locale = 'de-DE',
  hasTouch = false,
} = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'webinar-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_FLAGS,
    javaScriptEnabled,
    viewport,
    locale,
    hasTouch,
    timezoneId: 'Europe/Berlin',
  });
  const close = context.close.bind(context);
  context.close = async (...args) => {
    await close(...args);
    rmSync(profile, { recursive: true, force: true });
  };
  return context;
}

/** A person needs at least this long for the form (worker/abuse/form-stamp.ts MIN_FILL_MS). */
export const MIN_FILL_MS = 3_000;

/**
 * Waits as long as a person at least takes to fill in the form: the plain form (without
 * JavaScript) sends a post that comes sooner back as "too fast".
 * @param {import('playwright-core').Page} page
 */
export async function pauseLikeAPerson(page) {
  await page.waitForTimeout(MIN_FILL_MS + 300);
}
