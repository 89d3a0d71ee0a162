/**
 * The marketer's journey in real Chromium against the built app (vite preview → workerd):
 * sign in, rename a speaker, upload a photo (a PNG generated here, cropped and converted
 * to WebP by the browser), preview, publish; the public page at phone width shows the
 * new name and photo; a rollback restores the old name. axe finds nothing on the editor,
 * and no Content-Security-Policy violation happens on the way.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import { AxeBuilder } from '@axe-core/playwright';
import { launchBrowser, VIEWPORTS } from '../helpers/browser.mjs';
import { ROOT, startServer } from '../helpers/server.mjs';

const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const OLD_NAME = 'Dieter Bohlen';
const NEW_NAME = 'Heinz Testmann';

/** MARKETING_TOKEN as the built worker sees it (dist/…/.dev.vars, from .dev.vars). */
function marketingToken() {
  const vars = readFileSync(join(ROOT, 'dist/webinar_landing/.dev.vars'), 'utf8');
  const m = /^MARKETING_TOKEN\s*=\s*"?([^"\n]+)"?/m.exec(vars);
  assert.ok(m, 'MARKETING_TOKEN missing from .dev.vars');
  return m[1];
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
/** A landscape RGB PNG with a gradient, so cropping and resizing have real work to do. */
function makePng(width = 640, height = 400) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x++) {
      row[1 + x * 3] = (x * 255) / width;
      row[2 + x * 3] = (y * 255) / height;
      row[3 + x * 3] = 140;
    }
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;

/** The public page at phone width, reloaded until `text` shows (publishing takes seconds at most). */
async function publicPageShowing(text, timeoutMs = 15_000) {
  const context = await launchBrowser({ viewport: VIEWPORTS.phone });
  const page = await context.newPage();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await page.goto(server.url + '/');
    if ((await page.getByText(text, { exact: true }).count()) > 0) return { context, page };
    if (Date.now() > deadline) {
      await context.close();
      assert.fail(`the public page did not show "${text}" within ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('marketer edits the webinar live', () => {
  before(async () => {
    server = await startServer();
  });

  after(async () => {
    await server?.stop();
    server?.cleanup();
  });

  it('renames a speaker, uploads a photo, previews, publishes, and rolls back', async () => {
    const context = await launchBrowser({ viewport: VIEWPORTS.desktop });
    const csp = [];
    try {
      const page = await context.newPage();
      page.on('console', (msg) => {
        if (/Content Security Policy|Refused to/i.test(msg.text())) csp.push(msg.text());
      });

      await page.goto(server.url + '/admin');
      await page.getByLabel('Zugangsschlüssel').fill(marketingToken());
      await page.getByRole('button', { name: 'Anmelden' }).click();
      await page.getByRole('heading', { name: 'Veröffentlichen' }).waitFor();

      const axe = await new AxeBuilder({ page }).withTags(AXE_TAGS).analyze();
      assert.deepEqual(
        axe.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
        [],
      );

      // Rename the second speaker.
      const name = page.getByLabel('Name', { exact: true }).nth(1);
      assert.equal(await name.inputValue(), OLD_NAME);
      await name.fill('');
      await page.getByText('Der Name darf nicht leer sein.', { exact: true }).first().waitFor();
      assert.equal(await page.getByRole('button', { name: 'Veröffentlichen' }).isDisabled(), true);
      await name.fill(NEW_NAME);
      assert.equal(await page.getByRole('button', { name: 'Veröffentlichen' }).isDisabled(), false);

      // A PDF is refused with a German message; the PNG is cropped, resized and uploaded.
      const photoInput = page.locator('#f-speakers-1-photo');
      await photoInput.setInputFiles({
        name: 'cv.pdf',
        mimeType: 'application/pdf',
        buffer: Buffer.from('%PDF-1.4'),
      });
      await page.getByText('Bitte wählen Sie ein Bild im Format JPEG, PNG oder WebP.').waitFor();
      await photoInput.setInputFiles({ name: 'foto.png', mimeType: 'image/png', buffer: makePng() });
      const thumb = page.getByAltText(`Aktuelles Foto von ${NEW_NAME}`);
      await thumb.waitFor();
      // Visible (it has its size attributes) is not loaded yet: wait for the image itself.
      await thumb.evaluate((img) => img.decode());
      assert.ok(await thumb.evaluate((img) => img.complete && img.naturalWidth === 160));

      // Preview at phone and desktop width, before anything is live.
      await page.getByRole('button', { name: 'Vorschau aktualisieren' }).click();
      const phoneFrame = page.frameLocator('iframe[title^="Vorschau Smartphone"]');
      await phoneFrame.getByText(NEW_NAME, { exact: true }).waitFor();
      await page
        .frameLocator('iframe[title^="Vorschau Desktop"]')
        .getByText(NEW_NAME, { exact: true })
        .waitFor();
      const framePhoto = phoneFrame.getByAltText(`Foto von ${NEW_NAME}`);
      await framePhoto.scrollIntoViewIfNeeded();
      await page.waitForFunction(
        () => {
          const doc = document.querySelector('iframe[title^="Vorschau Smartphone"]')?.contentDocument;
          const img = [...(doc?.querySelectorAll('img') ?? [])].find((i) => i.alt.startsWith('Foto von'));
          return !!img && img.complete && img.naturalWidth > 0;
        },
        null,
        { timeout: 10_000 },
      );
      const frameWidth = await page
        .locator('iframe[title^="Vorschau Smartphone"]')
        .evaluate((f) => f.contentWindow.innerWidth);
      assert.equal(frameWidth, 390);

      // Publish.
      await page.getByRole('button', { name: 'Veröffentlichen' }).click();
      await page.getByText(/Version 1 ist veröffentlicht/).waitFor();

      // The public page at phone width shows the new name and the photo.
      {
        const { context: pub, page: visitor } = await publicPageShowing(NEW_NAME);
        try {
          assert.equal(await visitor.getByText(OLD_NAME, { exact: true }).count(), 0);
          const img = visitor.getByAltText(`Foto von ${NEW_NAME}`);
          await img.scrollIntoViewIfNeeded();
          await visitor.waitForFunction(
            (alt) => {
              const el = [...document.images].find((i) => i.alt === alt);
              return !!el && el.complete && el.naturalWidth > 0;
            },
            `Foto von ${NEW_NAME}`,
            { timeout: 10_000 },
          );
          const src = await img.evaluate((el) => el.currentSrc);
          const res = await fetch(src);
          assert.equal(res.headers.get('content-type'), 'image/webp');
          assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');

          // Nothing of the editor ships to visitors.
          const scripts = await visitor.evaluate(() =>
            [...document.scripts].map((s) => s.src).filter(Boolean),
          );
          assert.ok(scripts.length > 0);
          for (const script of scripts) {
            const code = await (await fetch(script)).text();
            assert.ok(!code.includes('/api/admin/config'), `${script} contains editor code`);
            assert.ok(!code.includes('Referent hinzufügen'), `${script} contains editor code`);
          }
        } finally {
          await pub.close();
        }
      }

      // History lists the publish; rolling back to the default restores the old name.
      await page.getByText('Referent umbenannt: Dieter Bohlen → Heinz Testmann', { exact: false }).waitFor();
      await page.getByRole('button', { name: 'Version 0 wiederherstellen' }).click();
      await page.getByRole('button', { name: 'Ja, wiederherstellen' }).click();
      await page.getByText('Version 0 wurde als Version 2 wiederhergestellt.').waitFor();
      assert.equal(await page.getByLabel('Name', { exact: true }).nth(1).inputValue(), OLD_NAME);
      {
        const { context: pub, page: visitor } = await publicPageShowing(OLD_NAME);
        assert.equal(await visitor.getByText(NEW_NAME, { exact: true }).count(), 0);
        await pub.close();
      }

      // axe cannot enter the script-less preview frames (it would wait for them forever), so
      // the editor is checked again after a reload, with the history filled and no preview.
      await page.reload();
      await page.getByText('Version 2', { exact: true }).waitFor();
      const axeAfter = await new AxeBuilder({ page })
        .withTags(AXE_TAGS)
        .options({ iframes: false })
        .analyze();
      assert.deepEqual(
        axeAfter.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
        [],
      );
      assert.deepEqual(csp, []);
    } finally {
      await context.close();
    }
  });

  it('keeps a draft across a reload of the editor', async () => {
    const context = await launchBrowser({ viewport: VIEWPORTS.desktop });
    try {
      const page = await context.newPage();
      await page.goto(server.url + '/admin');
      await page.getByLabel('Zugangsschlüssel').fill(marketingToken());
      await page.getByRole('button', { name: 'Anmelden' }).click();
      const cta = page.getByLabel('Text des Anmeldeknopfs');
      await cta.fill('Jetzt Platz sichern (Entwurf)');
      await page.reload();
      await page.getByText('Ihr noch nicht veröffentlichter Entwurf wurde wiederhergestellt.').waitFor();
      assert.equal(
        await page.getByLabel('Text des Anmeldeknopfs').inputValue(),
        'Jetzt Platz sichern (Entwurf)',
      );
    } finally {
      await context.close();
    }
  });
});
