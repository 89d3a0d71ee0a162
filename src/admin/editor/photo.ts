/**
 * Images in the browser: check the picked file, then draw what the page uses — a speaker
 * photo cropped square from the centre at the two widths, the host's logo 96 px high —
 * as WebP. The worker then only has to check the result (worker/media-store.ts), never
 * decode an image itself. `drawImageBlob` also draws the share image (share-image.ts).
 */
export const PHOTO_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;
export const MAX_PHOTO_BYTES = 10 * 1024 * 1024;
/** Large for the 96 px avatar on high-density desktops, small for phones. */
export const PHOTO_SIZES = { large: 480, small: 160 } as const;
const WEBP_QUALITY = 0.82;

export const PHOTO_MESSAGES = {
  type: 'Bitte wählen Sie ein Bild im Format JPEG, PNG oder WebP.',
  size: 'Das Bild ist größer als 10 MB. Bitte wählen Sie eine kleinere Datei.',
  empty: 'Die Datei ist leer.',
  decode: 'Das Bild konnte nicht gelesen werden. Bitte wählen Sie eine andere JPEG-, PNG- oder WebP-Datei.',
  webp: 'Ihr Browser kann keine WebP-Bilder erzeugen. Bitte verwenden Sie einen aktuellen Chrome, Edge oder Firefox.',
  tooSmall: 'Das Bild ist zu klein: Es braucht mindestens 160 × 160 Pixel.',
  logoTooSmall: 'Das Logo ist zu klein: Es braucht mindestens 48 Pixel Höhe.',
} as const;

/** A German message when the file cannot be a speaker photo, otherwise null. */
export function checkPhotoFile(file: { type: string; size: number }): string | null {
  if (!(PHOTO_TYPES as readonly string[]).includes(file.type)) return PHOTO_MESSAGES.type;
  if (file.size === 0) return PHOTO_MESSAGES.empty;
  if (file.size > MAX_PHOTO_BYTES) return PHOTO_MESSAGES.size;
  return null;
}

type Context2D = CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;

/**
 * Draws a `width` × `height` image with `draw` and encodes it as `type`. A browser without
 * an encoder for the type silently gives a PNG instead; that is reported, not uploaded.
 */
export async function drawImageBlob(
  width: number,
  height: number,
  draw: (ctx: Context2D) => void,
  type: 'image/webp' | 'image/png' = 'image/webp',
): Promise<Blob> {
  let blob: Blob | null;
  if (typeof OffscreenCanvas !== 'undefined') {
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d')!;
    ctx.imageSmoothingQuality = 'high';
    draw(ctx);
    blob = await canvas.convertToBlob({ type, quality: WEBP_QUALITY });
  } else {
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext('2d')!;
    ctx.imageSmoothingQuality = 'high';
    draw(ctx);
    blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, type, WEBP_QUALITY));
  }
  if (!blob || blob.type !== type) throw new PhotoError(PHOTO_MESSAGES.webp);
  return blob;
}

/** The centred square of an image, scaled to `size` × `size`, as a WebP blob. */
function squareWebp(bitmap: ImageBitmap, size: number): Promise<Blob> {
  const side = Math.min(bitmap.width, bitmap.height);
  const sx = (bitmap.width - side) / 2;
  const sy = (bitmap.height - side) / 2;
  return drawImageBlob(size, size, (ctx) => ctx.drawImage(bitmap, sx, sy, side, side, 0, 0, size, size));
}

async function decode(file: File): Promise<ImageBitmap> {
  const problem = checkPhotoFile(file);
  if (problem) throw new PhotoError(problem);
  try {
    return await createImageBitmap(file);
  } catch {
    throw new PhotoError(PHOTO_MESSAGES.decode);
  }
}

/** An error whose message is meant for the marketer. */
export class PhotoError extends Error {}

/** Both widths of a picked file, ready to upload; throws PhotoError with a German message. */
export async function preparePhoto(file: File): Promise<{ large: Blob; small: Blob }> {
  const bitmap = await decode(file);
  try {
    if (Math.min(bitmap.width, bitmap.height) < PHOTO_SIZES.small)
      throw new PhotoError(PHOTO_MESSAGES.tooSmall);
    const large = await squareWebp(bitmap, PHOTO_SIZES.large);
    const small = await squareWebp(bitmap, PHOTO_SIZES.small);
    return { large, small };
  } finally {
    bitmap.close();
  }
}

/** The logo's stored height (shown at half) and widest width; worker/media-store.ts checks both. */
export const LOGO_HEIGHT = 96;
export const LOGO_MAX_WIDTH = 960;

/**
 * The host's logo, 96 px high with its proportions kept; a logo wider than 10:1 is fitted
 * into 960 px and centred on a transparent band. Throws PhotoError with a German message.
 */
export async function prepareLogo(file: File): Promise<{ blob: Blob; width: number; height: number }> {
  const bitmap = await decode(file);
  try {
    if (bitmap.height < LOGO_HEIGHT / 2) throw new PhotoError(PHOTO_MESSAGES.logoTooSmall);
    const width = Math.max(
      16,
      Math.min(LOGO_MAX_WIDTH, Math.round((bitmap.width * LOGO_HEIGHT) / bitmap.height)),
    );
    const scale = Math.min(LOGO_HEIGHT / bitmap.height, width / bitmap.width);
    const w = bitmap.width * scale;
    const h = bitmap.height * scale;
    const blob = await drawImageBlob(width, LOGO_HEIGHT, (ctx) =>
      ctx.drawImage(bitmap, (width - w) / 2, (LOGO_HEIGHT - h) / 2, w, h),
    );
    return { blob, width, height: LOGO_HEIGHT };
  } finally {
    bitmap.close();
  }
}
