/**
 * `npm run share-image`: draws public/og-default.png, the share image of the repo's
 * default config (src/content/webinar.json), in headless Chromium with the very drawing
 * code the editor runs on publish (src/lib/share-image.ts). The PNG records a hash of the
 * texts it shows in a tEXt chunk; a test compares it with webinar.json, so a changed
 * title or date there is noticed. Needs Chromium at /usr/bin/chromium (or CHROMIUM_PATH).
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { drawShareImage, shareImageText, SHARE_IMAGE_SIZE } from '../src/lib/share-image.ts';
import { parseWebinarConfig } from '../src/lib/webinar-config.ts';
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from '../tests/helpers/browser.mjs';

/** The tEXt keyword under which the texts' hash is stored. */
export const SHARE_TEXT_KEYWORD = 'webinar-share-text';

/** sha256 (hex) of the texts an image shows; equal hashes mean an equal picture. */
export const shareTextHash = (text: object) =>
  createHash('sha256').update(JSON.stringify(text)).digest('hex');

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (bytes: Buffer) => {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};

/** The PNG with a tEXt chunk `keyword`=`value` (ASCII) right after its IHDR chunk. */
function withTextChunk(png: Buffer, keyword: string, value: string): Buffer {
  const data = Buffer.from(`${keyword}\0${value}`, 'latin1');
  const typeAndData = Buffer.concat([Buffer.from('tEXt', 'ascii'), data]);
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  typeAndData.copy(chunk, 4);
  chunk.writeUInt32BE(crc32(typeAndData), 8 + data.length);
  const ihdrEnd = 8 + 12 + png.readUInt32BE(8);
  return Buffer.concat([png.subarray(0, ihdrEnd), chunk, png.subarray(ihdrEnd)]);
}

async function main() {
  const contentPath = fileURLToPath(new URL('../src/content/webinar.json', import.meta.url));
  const parsed = parseWebinarConfig(JSON.parse(readFileSync(contentPath, 'utf8')));
  if (!parsed.success) throw new Error('src/content/webinar.json is invalid; run npm run build for details');
  const text = shareImageText(parsed.output);

  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_FLAGS });
  try {
    const page = await browser.newPage({ locale: 'de-DE' });
    const { width, height } = SHARE_IMAGE_SIZE;
    await page.setContent(`<canvas width="${width}" height="${height}"></canvas>`);
    const dataUrl = await page.evaluate(
      ([source, t]) => {
        // tsx (esbuild) wraps named functions in a `__name` helper; here it is a no-op.
        const draw = new Function('__name', `return (${source})`)((f: unknown) => f);
        const canvas = document.querySelector('canvas')!;
        draw(canvas.getContext('2d'), t);
        return canvas.toDataURL('image/png');
      },
      [drawShareImage.toString(), text] as const,
    );
    const png = Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64');
    const out = fileURLToPath(new URL('../public/og-default.png', import.meta.url));
    writeFileSync(out, withTextChunk(png, SHARE_TEXT_KEYWORD, shareTextHash(text)));
    console.log(`wrote ${out}`);
  } finally {
    await browser.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
