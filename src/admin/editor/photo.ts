/**
 * Speaker photos in the browser: check the picked file, crop it square from the centre
 * and resize it to the two widths the page uses, as WebP. The worker then only has to
 * check the result (worker/media-store.ts), never decode an image itself.
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
} as const;

/** A German message when the file cannot be a speaker photo, otherwise null. */
export function checkPhotoFile(file: { type: string; size: number }): string | null {
  if (!(PHOTO_TYPES as readonly string[]).includes(file.type)) return PHOTO_MESSAGES.type;
  if (file.size === 0) return PHOTO_MESSAGES.empty;
  if (file.size > MAX_PHOTO_BYTES) return PHOTO_MESSAGES.size;
  return null;
}

/** The centred square of an image, scaled to `size` × `size`, as a WebP blob. */
async function squareWebp(bitmap: ImageBitmap, size: number): Promise<Blob> {
  const side = Math.min(bitmap.width, bitmap.height);
  const sx = (bitmap.width - side) / 2;
  const sy = (bitmap.height - side) / 2;
  let blob: Blob | null;
  if (typeof OffscreenCanvas !== 'undefined') {
    const canvas = new OffscreenCanvas(size, size);
    const ctx = canvas.getContext('2d')!;
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(bitmap, sx, sy, side, side, 0, 0, size, size);
    blob = await canvas.convertToBlob({ type: 'image/webp', quality: WEBP_QUALITY });
  } else {
    const canvas = document.createElement('canvas');
    canvas.width = size;
    canvas.height = size;
    const ctx = canvas.getContext('2d')!;
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(bitmap, sx, sy, side, side, 0, 0, size, size);
    blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/webp', WEBP_QUALITY));
  }
  // Browsers without a WebP encoder silently fall back to PNG.
  if (!blob || blob.type !== 'image/webp') throw new PhotoError(PHOTO_MESSAGES.webp);
  return blob;
}

/** An error whose message is meant for the marketer. */
export class PhotoError extends Error {}

/** Both widths of a picked file, ready to upload; throws PhotoError with a German message. */
export async function preparePhoto(file: File): Promise<{ large: Blob; small: Blob }> {
  const problem = checkPhotoFile(file);
  if (problem) throw new PhotoError(problem);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new PhotoError(PHOTO_MESSAGES.decode);
  }
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
