/**
 * The landing page as a visitor meets it, in real Chromium at 390×844, 1366×768 and
 * 320 px, with JavaScript and without: the walk from landing to registered, no tap lost
 * to a message that appears as a field is left (mouse and touch), the form within reach
 * (in the first screen on a desktop, a register button that stays in reach on a phone
 * and never covers the form or the footer links), the countdown in the HTML, focus rings
 * with at least 3:1 contrast, the error list that shrinks as fields are fixed, and an
 * address with an internationalised domain. One server for the file, as in visitor.test.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AxeBuilder } from '@axe-core/playwright';
import content from '../../src/content/webinar.json' with { type: 'json' };
import { launchBrowser, VIEWPORTS, pauseLikeAPerson } from '../helpers/browser.mjs';
import { queryD1 } from '../helpers/d1.mjs';
import { startServer } from '../helpers/server.mjs';

const SIZES = [
  ['390×844', VIEWPORTS.phone],
  ['1366×768', VIEWPORTS.desktop],
  ['320×640', VIEWPORTS.narrow],
];
const WIDE = 1024; // 64rem: from here the form sits beside the title
const TYPO = 'max.mustermann@gmail';
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const beforeStart = () => Date.now() < Date.parse(content.webinar.start);

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
let counter = 0;
const fresh = (tag, domain = 'example.com') => `e2e-${tag}-${Date.now().toString(36)}-${++counter}@${domain}`;

before(async () => {
  server = await startServer({ environment: 'production' });
});
after(async () => {
  await server?.stop();
  server?.cleanup();
});

/** @param {{ viewport?: {width:number,height:number}, javaScriptEnabled?: boolean, hasTouch?: boolean }} options */
async function open(options) {
  const context = await launchBrowser(options);
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(server.url + '/');
  if (options.javaScriptEnabled !== false)
    await page.waitForFunction(() => document.querySelector('#register-form form')?.noValidate === true);
  return { context, page };
}

/** Press and release on an element's centre like a visitor: a held mouse button, or a finger tap. */
async function press(page, locator, input) {
  await locator.scrollIntoViewIfNeeded();
  const box = await locator.boundingBox();
  const x = box.x + box.width / 2;
  const y = box.y + box.height / 2;
  if (input === 'touch') return page.touchscreen.tap(x, y);
  await page.mouse.move(x, y);
  await page.mouse.down();
  await page.waitForTimeout(150);
  await page.mouse.up();
}

const rectOf = (page, selector) =>
  page.evaluate((s) => {
    const r = document.querySelector(s)?.getBoundingClientRect();
    return r && { top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height };
  }, selector);

describe('no tap is lost to a message that appears as a field is left', () => {
  for (const [size, viewport] of SIZES.slice(0, 2)) {
    for (const input of ['mouse', 'touch']) {
      it(`${size}, ${input}: the privacy box is ticked by the first tap after a wrong address`, async () => {
        const { context, page } = await open({ viewport, hasTouch: input === 'touch' });
        try {
          await page.locator('#reg-email').fill(TYPO);
          await press(page, page.locator('#reg-privacy'), input);
          await page.locator('#email-error').waitFor({ state: 'visible' });
          assert.match(await page.locator('#email-error').innerText(), /gültige E-Mail-Adresse/);
          assert.equal(await page.locator('#reg-privacy').isChecked(), true, 'the tap ticked the box');
        } finally {
          await context.close();
        }
      });
    }
  }
});

describe('the walk: land, find the form, correct a typo, register', () => {
  for (const [size, viewport] of SIZES) {
    for (const javaScriptEnabled of [true, false]) {
      it(`${size}, JavaScript ${javaScriptEnabled ? 'on' : 'off'}`, async () => {
        const { context, page } = await open({
          viewport,
          javaScriptEnabled,
          hasTouch: viewport.width < WIDE,
        });
        const email = fresh(`walk${viewport.width}${javaScriptEnabled ? 'js' : ''}`);
        try {
          if (viewport.width < WIDE) {
            await page.locator('.hero-cta .cta').click();
            if (javaScriptEnabled)
              await page.waitForFunction(() => document.activeElement?.id === 'reg-email');
            else await page.waitForURL((u) => u.hash === '#anmeldung');
          }
          await page.locator('#reg-email').fill(TYPO);
          await press(page, page.locator('#reg-privacy'), viewport.width < WIDE ? 'touch' : 'mouse');
          assert.equal(await page.locator('#reg-privacy').isChecked(), true);
          await page.locator('#reg-email').fill(email);
          await pauseLikeAPerson(page);
          await page.getByRole('button', { name: content.cta }).click();
          if (javaScriptEnabled) await page.locator('.thanks h3').waitFor({ state: 'visible' });
          else await page.waitForURL((u) => u.pathname === '/danke');
          const width = await page.evaluate(() => document.documentElement.scrollWidth);
          assert.ok(width <= viewport.width, `no sideways scrolling (${width} px)`);
        } finally {
          await context.close();
        }
      });
    }
  }
});

describe('the form is in reach', () => {
  for (const javaScriptEnabled of [true, false]) {
    it(`1366×768, JavaScript ${javaScriptEnabled ? 'on' : 'off'}: the e-mail field and the button are in the first screen`, async () => {
      const { context, page } = await open({ viewport: VIEWPORTS.desktop, javaScriptEnabled });
      try {
        const field = await rectOf(page, '#reg-email');
        const button = await rectOf(page, '#register-form button[type="submit"]');
        assert.ok(
          field.top >= 0 && button.bottom <= VIEWPORTS.desktop.height,
          JSON.stringify({ field, button }),
        );
        const formLeft = (await rectOf(page, '#anmeldung')).left;
        assert.ok(formLeft > VIEWPORTS.desktop.width / 2, 'the form is the right half of the hero');
      } finally {
        await context.close();
      }
    });
  }

  for (const [size, viewport] of [SIZES[0], SIZES[2]]) {
    for (const javaScriptEnabled of [true, false]) {
      it(`${size}, JavaScript ${javaScriptEnabled ? 'on' : 'off'}: a register button stays in reach below the hero, never over the form or the footer links`, async () => {
        const { context, page } = await open({ viewport, javaScriptEnabled });
        try {
          const bar = page.locator('.sticky-cta .cta');
          assert.equal((await bar.innerText()).trim(), content.cta);
          const seen = [];
          const height = await page.evaluate(() => document.documentElement.scrollHeight);
          for (let y = 0; y <= height; y += 150) {
            await page.evaluate((top) => window.scrollTo({ top, behavior: 'instant' }), y);
            const state = await page.evaluate(() => {
              const r = (el) => el.getBoundingClientRect();
              const overlap = (a, b) =>
                a.top < b.bottom && b.top < a.bottom && a.left < b.right && b.left < a.right;
              const barBox = r(document.querySelector('.sticky-cta'));
              const inView = barBox.top < innerHeight && barBox.bottom > 0;
              const covers = [
                document.getElementById('anmeldung'),
                ...document.querySelectorAll('footer a'),
              ].filter((el) => overlap(barBox, r(el)));
              const heroGone = r(document.querySelector('.hero')).bottom <= innerHeight;
              return {
                inView,
                covers: covers.length,
                atBottom: Math.abs(barBox.bottom - innerHeight) < 1,
                heroGone,
                h: r(document.querySelector('.sticky-cta .cta')).height,
              };
            });
            if (state.inView) seen.push(state);
            if (state.inView)
              assert.equal(state.covers, 0, `at ${y} px the button covers the form or a footer link`);
            if (!state.heroGone)
              assert.equal(state.inView, false, `at ${y} px the button shows over the hero`);
          }
          assert.ok(
            seen.some((s) => s.atBottom),
            'it sticks to the bottom edge while the page scrolls',
          );
          assert.ok(
            seen.every((s) => s.h >= 44),
            'it is at least 44 px high',
          );
        } finally {
          await context.close();
        }
      });
    }
  }

  it('390×844: the hero button and the sticky button put the cursor into the e-mail field', async () => {
    const { context, page } = await open({ viewport: VIEWPORTS.phone });
    try {
      for (const selector of ['.hero-cta .cta', '.sticky-cta .cta']) {
        await page.evaluate(() => document.activeElement?.blur());
        if (selector.startsWith('.sticky')) await page.locator('#speakers-h').scrollIntoViewIfNeeded();
        await page.locator(selector).click();
        await page.waitForFunction(() => document.activeElement?.id === 'reg-email');
        await page.waitForTimeout(700); // smooth scrolling
        const field = await rectOf(page, '#reg-email');
        assert.ok(field.top >= 0 && field.bottom <= VIEWPORTS.phone.height, `${selector}: field in view`);
      }
    } finally {
      await context.close();
    }
  });
});

describe('countdown', () => {
  it('reads right without JavaScript: the numbers are in the page', async () => {
    const { context, page } = await open({ viewport: VIEWPORTS.phone, javaScriptEnabled: false });
    try {
      if (!beforeStart()) {
        assert.equal(await page.locator('#countdown').count(), 0);
        return;
      }
      const cells = await page.locator('#countdown b').allInnerTexts();
      assert.equal(cells.length, 4);
      const days = Math.floor((Date.parse(content.webinar.start) - Date.now()) / 86_400_000);
      assert.ok(Math.abs(Number(cells[0]) - days) <= 1, `days ${cells[0]}, expected about ${days}`);
    } finally {
      await context.close();
    }
  });

  it('keeps running once the script is there, without moving anything on the page', async () => {
    const { context, page } = await open({ viewport: VIEWPORTS.phone });
    try {
      const shift = await page.evaluate(
        () =>
          new Promise((resolve) => {
            let total = 0;
            new PerformanceObserver((list) => {
              for (const entry of list.getEntries()) total += entry.value;
            }).observe({ type: 'layout-shift', buffered: true });
            setTimeout(() => resolve(total), 1500);
          }),
      );
      assert.equal(shift, 0, 'no layout shift from load through hydration');
      if (!beforeStart()) return;
      const first = await page.locator('#countdown').innerText();
      await page.waitForTimeout(1200);
      assert.notEqual(await page.locator('#countdown').innerText(), first, 'the seconds move');
    } finally {
      await context.close();
    }
  });
});

describe('form messages', () => {
  it('lists what to correct and shrinks the list as each field is fixed', async () => {
    const { context, page } = await open({ viewport: VIEWPORTS.desktop });
    try {
      await pauseLikeAPerson(page);
      await page.getByRole('button', { name: content.cta }).click();
      const items = page.locator('#form-status li');
      assert.equal(await items.count(), 2);
      await page.locator('#reg-privacy').check();
      await page.waitForFunction(() => document.querySelectorAll('#form-status li').length === 1);
      await page.locator('#form-status a').click();
      await page.waitForFunction(() => document.activeElement?.id === 'reg-email');
      await page.keyboard.type(fresh('summary'));
      await page.waitForFunction(() => document.getElementById('form-status')?.hidden === true);
      assert.deepEqual(
        await new AxeBuilder({ page })
          .withTags(AXE_TAGS)
          .analyze()
          .then((r) => r.violations),
        [],
      );
    } finally {
      await context.close();
    }
  });

  for (const javaScriptEnabled of [true, false]) {
    it(`accepts an internationalised domain and stores it as typed (JavaScript ${javaScriptEnabled ? 'on' : 'off'})`, async () => {
      const { context, page } = await open({ viewport: VIEWPORTS.phone, javaScriptEnabled });
      const email = fresh(javaScriptEnabled ? 'idn-js' : 'idn', 'müller-bau.de');
      try {
        await page.locator('#reg-email').fill(email);
        await page.locator('#reg-privacy').check();
        await pauseLikeAPerson(page);
        await page.getByRole('button', { name: content.cta }).click();
        if (javaScriptEnabled) await page.locator('.thanks h3').waitFor({ state: 'visible' });
        else await page.waitForURL((u) => u.pathname === '/danke');
        const rows = await queryD1(
          server.persistDir,
          `SELECT email FROM leads WHERE email LIKE '%@müller-bau.de'`,
        );
        assert.ok(
          rows.some((r) => r.email === email),
          `stored as typed: ${rows.map((r) => r.email).join(', ')}`,
        );
      } finally {
        await context.close();
      }
    });
  }
});

/** WCAG contrast of two `rgb(…)` colours. */
function contrast(a, b) {
  const lum = (rgb) => {
    const [r, g, bl] = rgb
      .match(/[\d.]+/g)
      .slice(0, 3)
      .map(Number)
      .map((c) => {
        const s = c / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

describe('focus indicators', () => {
  for (const [path, viewport] of [
    ['/', VIEWPORTS.phone],
    ['/', VIEWPORTS.desktop],
    ['/danke', VIEWPORTS.phone],
    ['/teilnahmebedingungen', VIEWPORTS.phone],
  ]) {
    it(`${path} at ${viewport.width} px: every focus ring has at least 3:1 against what is around it`, async () => {
      const context = await launchBrowser({ viewport });
      const page = context.pages()[0] ?? (await context.newPage());
      try {
        await page.goto(server.url + path);
        if (path === '/')
          await page.waitForFunction(() => document.querySelector('#register-form form')?.noValidate);
        const rings = [];
        for (let i = 0; i < 40; i++) {
          await page.keyboard.press('Tab');
          const ring = await page.evaluate(() => {
            const el = document.activeElement;
            if (!el || el === document.body) return null;
            const style = getComputedStyle(el);
            let bg = 'rgba(0, 0, 0, 0)';
            for (let node = el.parentElement; node; node = node.parentElement) {
              const c = getComputedStyle(node).backgroundColor;
              if (!/rgba\(.*, 0\)$/.test(c) && c !== 'transparent') {
                bg = c;
                break;
              }
            }
            return {
              what: `${el.tagName} ${el.textContent?.trim().slice(0, 30) || el.id}`,
              style: style.outlineStyle,
              width: parseFloat(style.outlineWidth),
              color: style.outlineColor,
              bg: bg === 'rgba(0, 0, 0, 0)' ? 'rgb(255, 255, 255)' : bg,
            };
          });
          if (!ring || rings.some((r) => r.what === ring.what)) break;
          rings.push(ring);
        }
        assert.ok(rings.length >= 3, `tabbed through ${rings.length} elements`);
        for (const r of rings) {
          assert.notEqual(r.style, 'none', `${r.what} has a focus ring`);
          assert.ok(r.width >= 2, `${r.what}: ring ${r.width} px`);
          const ratio = contrast(r.color, r.bg);
          assert.ok(ratio >= 3, `${r.what}: ${r.color} on ${r.bg} is ${ratio.toFixed(2)}:1`);
        }
      } finally {
        await context.close();
      }
    });
  }
});

describe('accessibility beyond the first view (axe)', () => {
  it('/ as it is without JavaScript, with an FAQ item open', async () => {
    // axe runs as a script, so the page's own script is blocked instead of all JavaScript.
    const context = await launchBrowser({ viewport: VIEWPORTS.phone });
    const page = context.pages()[0] ?? (await context.newPage());
    try {
      await context.route('**/assets/*.js', (route) => route.abort());
      await page.goto(server.url + '/');
      if (content.faq?.items?.length) {
        await page.locator('.faq summary').first().click();
        assert.equal(await page.locator('.faq details').first().getAttribute('open'), '');
      } else assert.equal(await page.locator('details').count(), 0);
      const result = await new AxeBuilder({ page }).withTags(AXE_TAGS).analyze();
      assert.deepEqual(
        result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
        [],
      );
    } finally {
      await context.close();
    }
  });
});
