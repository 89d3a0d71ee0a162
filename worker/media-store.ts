/**
 * Uploaded images in KV (`CONTENT`), stored by content hash as `media:<sha256>`: the value
 * is the image bytes, the metadata `{ type, width, height }`. The browser has already
 * cropped and resized them; this module only accepts what the page can use, checked from
 * the bytes themselves (magic bytes and the VP8/VP8L/VP8X or PNG header), never from a
 * client-supplied type:
 *
 * - a speaker photo: a square WebP of exactly 160 or 480 px;
 * - the host's logo: a WebP exactly 96 px high and 16–960 px wide (shown at half size);
 * - the share image (`og:image`): a PNG of exactly 1200 × 630 px, drawn by the editor.
 */

/** Largest accepted upload; a 480 px WebP at quality 0.82 is typically 20–60 KB. */
export const MAX_MEDIA_BYTES = 1024 * 1024;
/** The two widths the page's `srcset` uses (see src/components/avatar.tsx). */
export const MEDIA_WIDTHS = [160, 480] as const;

export const mediaKey = (hash: string) => `media:${hash}`;
export const MEDIA_HASH = /^[0-9a-f]{64}$/;

/** The logo's stored height (src/admin/editor/photo.ts draws it so) and its widest width. */
export const LOGO_HEIGHT = 96;
export const LOGO_MAX_WIDTH = 960;
/** The share image's size, the one Open Graph and X recommend. */
export const SHARE_IMAGE = { width: 1200, height: 630 } as const;

export type MediaType = 'image/webp' | 'image/png';

export interface MediaMeta {
  type: MediaType;
  width: number;
  height: number;
}

export type MediaCheck =
  | { ok: true; width: number; height: number }
  | { ok: false; code: 'not_webp' | 'not_png' | 'too_large' | 'empty' | 'bad_dimensions'; message: string };

const MESSAGES = {
  empty: 'Die Datei ist leer.',
  tooLarge: `Das Bild ist zu groß (höchstens ${MAX_MEDIA_BYTES / 1024 / 1024} MB nach dem Verkleinern).`,
  notWebp: 'Die Datei ist kein WebP-Bild.',
  notPng: 'Die Datei ist kein PNG-Bild.',
  badDimensions: `Das Bild muss quadratisch und genau ${MEDIA_WIDTHS.join(' oder ')} Pixel breit sein (Foto) oder ${LOGO_HEIGHT} Pixel hoch und höchstens ${LOGO_MAX_WIDTH} Pixel breit (Logo).`,
  badPngDimensions: `Ein PNG muss genau ${SHARE_IMAGE.width} × ${SHARE_IMAGE.height} Pixel groß sein (Vorschaubild).`,
} as const;

const ascii = (bytes: Uint8Array, at: number, len: number) =>
  String.fromCharCode(...bytes.subarray(at, at + len));

/** Width and height from a WebP's first chunk, or null when the header is not a WebP. */
export function webpDimensions(bytes: Uint8Array): { width: number; height: number } | null {
  if (bytes.length < 30 || ascii(bytes, 0, 4) !== 'RIFF' || ascii(bytes, 8, 4) !== 'WEBP') return null;
  const riffSize = bytes[4] | (bytes[5] << 8) | (bytes[6] << 16) | (bytes[7] << 24);
  // The RIFF size covers everything after the first 8 bytes; a mismatch is a truncated or padded file.
  if (riffSize + 8 !== bytes.length) return null;
  const chunk = ascii(bytes, 12, 4);
  const d = 20; // chunk data start
  if (chunk === 'VP8 ') {
    // Lossy: 3-byte frame tag, start code 9d 01 2a, then 14-bit width and height.
    if (bytes[d + 3] !== 0x9d || bytes[d + 4] !== 0x01 || bytes[d + 5] !== 0x2a) return null;
    const width = (bytes[d + 6] | (bytes[d + 7] << 8)) & 0x3fff;
    const height = (bytes[d + 8] | (bytes[d + 9] << 8)) & 0x3fff;
    return { width, height };
  }
  if (chunk === 'VP8L') {
    // Lossless: signature 0x2f, then width-1 and height-1 as 14-bit fields.
    if (bytes[d] !== 0x2f) return null;
    const b = bytes[d + 1] | (bytes[d + 2] << 8) | (bytes[d + 3] << 16) | (bytes[d + 4] << 24);
    return { width: (b & 0x3fff) + 1, height: ((b >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X') {
    // Extended: 4 bytes flags, then canvas width-1 and height-1 as 24-bit fields.
    const width = (bytes[d + 4] | (bytes[d + 5] << 8) | (bytes[d + 6] << 16)) + 1;
    const height = (bytes[d + 7] | (bytes[d + 8] << 8) | (bytes[d + 9] << 16)) + 1;
    return { width, height };
  }
  return null;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Width and height from a PNG's IHDR chunk, or null when the bytes are not a PNG. */
export function pngDimensions(bytes: Uint8Array): { width: number; height: number } | null {
  if (bytes.length < 33 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b) || ascii(bytes, 12, 4) !== 'IHDR')
    return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

const isPhoto = (w: number, h: number) => w === h && (MEDIA_WIDTHS as readonly number[]).includes(w);
const isLogo = (w: number, h: number) => h === LOGO_HEIGHT && w >= 16 && w <= LOGO_MAX_WIDTH;

/** Whether `bytes` is an image the page can use, in the format `type` says; German message when not. */
export function checkMedia(bytes: Uint8Array, type: MediaType = 'image/webp'): MediaCheck {
  if (bytes.length === 0) return { ok: false, code: 'empty', message: MESSAGES.empty };
  if (bytes.length > MAX_MEDIA_BYTES) return { ok: false, code: 'too_large', message: MESSAGES.tooLarge };
  if (type === 'image/png') {
    const dims = pngDimensions(bytes);
    if (!dims) return { ok: false, code: 'not_png', message: MESSAGES.notPng };
    if (dims.width !== SHARE_IMAGE.width || dims.height !== SHARE_IMAGE.height)
      return { ok: false, code: 'bad_dimensions', message: MESSAGES.badPngDimensions };
    return { ok: true, ...dims };
  }
  const dims = webpDimensions(bytes);
  if (!dims) return { ok: false, code: 'not_webp', message: MESSAGES.notWebp };
  if (!isPhoto(dims.width, dims.height) && !isLogo(dims.width, dims.height))
    return { ok: false, code: 'bad_dimensions', message: MESSAGES.badDimensions };
  return { ok: true, ...dims };
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

export type StoreMediaResult = ({ ok: true; hash: string } & MediaMeta) | Extract<MediaCheck, { ok: false }>;

/**
 * Checks and stores an image; the same bytes always give the same key, so a second upload
 * of the same photo writes nothing (KV allows one write per key per second).
 */
export async function storeMedia(
  kv: KVNamespace,
  bytes: Uint8Array<ArrayBuffer>,
  type: MediaType = 'image/webp',
): Promise<StoreMediaResult> {
  const check = checkMedia(bytes, type);
  if (!check.ok) return check;
  const hash = await sha256Hex(bytes);
  const meta: MediaMeta = { type, width: check.width, height: check.height };
  const existing = await kv.list({ prefix: mediaKey(hash), limit: 1 });
  if (existing.keys.length === 0) await kv.put(mediaKey(hash), bytes, { metadata: meta });
  return { ok: true, hash, ...meta };
}

/** The stored image, or null for an unknown or malformed hash. */
export async function getMedia(
  kv: KVNamespace,
  hash: string,
): Promise<{ body: ArrayBuffer; meta: MediaMeta } | null> {
  if (!MEDIA_HASH.test(hash)) return null;
  const { value, metadata } = await kv.getWithMetadata<MediaMeta>(mediaKey(hash), 'arrayBuffer');
  if (value === null) return null;
  return { body: value, meta: metadata ?? { type: 'image/webp', width: 0, height: 0 } };
}
