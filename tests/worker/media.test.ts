/**
 * Speaker photo uploads and serving. The worker only reads WebP headers (the browser did
 * the decoding and resizing), so the fixtures are built byte by byte: a valid RIFF/WEBP
 * container whose first chunk declares the dimensions under test.
 */
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { checkMedia, webpDimensions } from '../../worker/media-store';

const ORIGIN = 'https://webinar.test';
const MARKETING = { authorization: `Bearer ${env.MARKETING_TOKEN}` };

const le16 = (n: number) => [n & 255, (n >> 8) & 255];
const le24 = (n: number) => [n & 255, (n >> 8) & 255, (n >> 16) & 255];
const le32 = (n: number) => [n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255];
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

let salt = 0;
/** A WebP container of `kind` declaring width × height, padded to `size` bytes (unique per call). */
function webp(
  width: number,
  height: number,
  kind: 'VP8 ' | 'VP8L' | 'VP8X' = 'VP8 ',
  size = 600,
): Uint8Array<ArrayBuffer> {
  let data: number[];
  if (kind === 'VP8 ') data = [0x30, 0x01, 0x00, 0x9d, 0x01, 0x2a, ...le16(width), ...le16(height)];
  else if (kind === 'VP8L') {
    const bits = (width - 1) | ((height - 1) << 14);
    data = [0x2f, ...le32(bits)];
  } else data = [0x10, 0, 0, 0, ...le24(width - 1), ...le24(height - 1)];
  salt += 1;
  const payload = [...data, ...le32(salt ^ Date.now())];
  while (payload.length < size - 20) payload.push(0);
  if (payload.length % 2) payload.push(0);
  const chunk = [...ascii(kind), ...le32(payload.length), ...payload];
  return new Uint8Array([...ascii('RIFF'), ...le32(4 + chunk.length), ...ascii('WEBP'), ...chunk]);
}

const be32 = (n: number) => [(n >>> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255];

/** A PNG signature and IHDR chunk declaring width × height, padded (unique per call). */
function png(width: number, height: number): Uint8Array<ArrayBuffer> {
  salt += 1;
  const ihdr = [...be32(13), ...ascii('IHDR'), ...be32(width), ...be32(height), 8, 6, 0, 0, 0, 0, 0, 0, 0];
  return new Uint8Array([
    0x89,
    0x50,
    0x4e,
    0x47,
    0x0d,
    0x0a,
    0x1a,
    0x0a,
    ...ihdr,
    ...le32(salt ^ Date.now()),
    ...new Array(300).fill(0),
  ]);
}

function upload(body: BodyInit, type = 'image/webp', headers: Record<string, string> = MARKETING) {
  return SELF.fetch(`${ORIGIN}/api/admin/media`, {
    method: 'POST',
    headers: { 'content-type': type, ...headers },
    body,
  });
}

async function sha256(bytes: Uint8Array<ArrayBuffer>) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
}

describe('webpDimensions', () => {
  it('reads lossy, lossless and extended headers', () => {
    expect(webpDimensions(webp(480, 480, 'VP8 '))).toEqual({ width: 480, height: 480 });
    expect(webpDimensions(webp(160, 160, 'VP8L'))).toEqual({ width: 160, height: 160 });
    expect(webpDimensions(webp(480, 300, 'VP8X'))).toEqual({ width: 480, height: 300 });
  });

  it('rejects a PNG, a truncated WebP and a WebP with a broken start code', () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(40).fill(0)]);
    expect(webpDimensions(png)).toBeNull();
    expect(webpDimensions(webp(480, 480).slice(0, 100))).toBeNull();
    const broken = webp(480, 480);
    broken[23] = 0;
    expect(webpDimensions(broken)).toBeNull();
    expect(checkMedia(new Uint8Array(0))).toMatchObject({ ok: false, code: 'empty' });
  });
});

describe('POST /api/admin/media', () => {
  it('stores a 480 px square WebP by sha256 and GET /media/<hash> serves it immutable', async () => {
    const bytes = webp(480, 480);
    const res = await upload(bytes);
    expect(res.status).toBe(201);
    const body = (await res.json()) as { hash: string; width: number; height: number };
    expect(body).toMatchObject({ hash: await sha256(bytes), width: 480, height: 480 });

    const stored = await env.CONTENT.getWithMetadata(`media:${body.hash}`, 'arrayBuffer');
    expect(stored.metadata).toEqual({ type: 'image/webp', width: 480, height: 480 });

    const served = await SELF.fetch(`${ORIGIN}/media/${body.hash}`);
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('image/webp');
    expect(served.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(served.headers.get('x-content-type-options')).toBe('nosniff');
    expect(new Uint8Array(await served.arrayBuffer())).toEqual(bytes);
  });

  it('accepts the 160 px width and a second upload of the same bytes gives the same hash', async () => {
    const bytes = webp(160, 160, 'VP8L');
    const a = (await (await upload(bytes)).json()) as { hash: string };
    const second = await upload(bytes);
    expect(second.status).toBe(201);
    expect(((await second.json()) as { hash: string }).hash).toBe(a.hash);
  });

  it('accepts a logo 96 px high and up to 960 px wide, and nothing wider or of another height', async () => {
    const logo = await upload(webp(320, 96, 'VP8L'));
    expect(logo.status).toBe(201);
    expect(await logo.json()).toMatchObject({ width: 320, height: 96 });
    for (const [w, h] of [
      [961, 96],
      [320, 97],
    ])
      expect((await upload(webp(w, h, 'VP8X'))).status).toBe(400);
  });

  it('accepts the 1200 × 630 share image as PNG, serves it as image/png, and refuses other PNG sizes', async () => {
    const bytes = png(1200, 630);
    const res = await upload(bytes, 'image/png');
    expect(res.status).toBe(201);
    const { hash } = (await res.json()) as { hash: string };
    const served = await SELF.fetch(`${ORIGIN}/media/${hash}`);
    expect(served.headers.get('content-type')).toBe('image/png');
    expect(new Uint8Array(await served.arrayBuffer())).toEqual(bytes);

    const wrong = await upload(png(1200, 600), 'image/png');
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as { error: string }).error).toBe(
      'Ein PNG muss genau 1200 × 630 Pixel groß sein (Vorschaubild).',
    );
    const webpAsPng = await upload(webp(480, 480), 'image/png');
    expect(((await webpAsPng.json()) as { code: string }).code).toBe('not_png');
  });

  it('rejects a PNG sent as image/webp (magic bytes decide, not the header)', async () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(200).fill(7)]);
    const res = await upload(png);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      ok: false,
      code: 'not_webp',
      error: 'Die Datei ist kein WebP-Bild.',
    });
  });

  it('rejects a non-square or wrongly sized image with the sizes it needs', async () => {
    for (const [w, h] of [
      [480, 300],
      [1024, 1024],
      [200, 200],
    ]) {
      const res = await upload(webp(w, h, 'VP8X'));
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({
        code: 'bad_dimensions',
        error:
          'Das Bild muss quadratisch und genau 160 oder 480 Pixel breit sein (Foto) oder 96 Pixel hoch und höchstens 960 Pixel breit (Logo).',
      });
    }
  });

  it('rejects more than 1 MB with 413, and another content type with 415', async () => {
    const big = webp(480, 480, 'VP8 ', 1024 * 1024 + 100);
    const tooBig = await upload(big);
    expect(tooBig.status).toBe(413);
    expect(((await tooBig.json()) as { error: string }).error).toMatch(/zu groß/);

    const jpeg = await upload(new Uint8Array([0xff, 0xd8, 0xff, 0xe0]), 'image/jpeg');
    expect(jpeg.status).toBe(415);
    expect(((await jpeg.json()) as { error: string }).error).toMatch(/image\/webp oder image\/png/);
  });

  it('is for marketing only: ops 403, nobody 401, and nothing is stored', async () => {
    const bytes = webp(480, 480);
    expect((await upload(bytes, 'image/webp', { authorization: `Bearer ${env.OPS_TOKEN}` })).status).toBe(
      403,
    );
    expect((await upload(bytes, 'image/webp', {})).status).toBe(401);
    expect(await env.CONTENT.get(`media:${await sha256(bytes)}`)).toBeNull();
  });
});

describe('GET /media/<hash>', () => {
  it('answers 404 for an unknown hash and for a malformed one', async () => {
    const unknown = await SELF.fetch(`${ORIGIN}/media/${'ab'.repeat(32)}`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('cache-control')).toBe('no-store');
    for (const bad of ['xyz', 'AB'.repeat(32), `${'ab'.repeat(32)}.webp`, '..%2Fconfig%3Acurrent']) {
      expect((await SELF.fetch(`${ORIGIN}/media/${bad}`)).status).toBe(404);
    }
  });
});

describe('a published speaker photo', () => {
  it('appears on the live page with both widths in srcset', async () => {
    const big = (await (await upload(webp(480, 480))).json()) as { hash: string };
    const small = (await (await upload(webp(160, 160))).json()) as { hash: string };
    const live = (await (await SELF.fetch(`${ORIGIN}/api/admin/config`, { headers: MARKETING })).json()) as {
      version: number;
      fallbackFrom?: number;
      config: any;
    };
    live.config.speakers[0].photo = { hash: big.hash, smallHash: small.hash };
    const res = await SELF.fetch(`${ORIGIN}/api/admin/config`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...MARKETING },
      body: JSON.stringify({ baseVersion: live.fallbackFrom ?? live.version, config: live.config }),
    });
    expect(res.status).toBe(200);
    const html = await (await SELF.fetch(`${ORIGIN}/`)).text();
    expect(html).toContain(`src="/media/${big.hash}"`);
    expect(html).toContain(`/media/${small.hash} 160w`);
  });
});
