/**
 * On publish, the share image is drawn from the draft (src/lib/share-image.ts) in the
 * marketer's browser and uploaded as PNG; the config then points to it by hash. Drawn
 * only when its texts changed, so an unchanged title and date reuse the stored image.
 */
import { shareImageText, drawShareImage, SHARE_IMAGE_SIZE, type ShareImageText } from '../../lib/share-image';
import type { WebinarConfig } from '../../lib/webinar-config';
import { drawImageBlob } from './photo';

/** Draws the share image as a PNG blob (needs a canvas: the browser, not the DOM tests). */
export function renderShareImage(text: ShareImageText): Promise<Blob> {
  const { width, height } = SHARE_IMAGE_SIZE;
  return drawImageBlob(width, height, (ctx) => drawShareImage(ctx, text), 'image/png');
}

export const SHARE_IMAGE_WARNING =
  'Das Vorschaubild für geteilte Links konnte nicht erneuert werden; sie zeigen weiter das bisherige.';

/**
 * Sets `config.seo.shareImage` to an image of its title and date; when `live` (the
 * published config) has one of the same texts, that one. Returns a German warning when
 * drawing or uploading failed; publishing goes on, with the previous image.
 */
export async function refreshShareImage(
  config: WebinarConfig,
  live: WebinarConfig | undefined,
  render: (text: ShareImageText) => Promise<Blob>,
  upload: (blob: Blob) => Promise<string>,
): Promise<string> {
  const text = shareImageText(config);
  if (live?.seo.shareImage && JSON.stringify(shareImageText(live)) === JSON.stringify(text)) {
    config.seo.shareImage = live.seo.shareImage;
    return '';
  }
  try {
    config.seo.shareImage = await upload(await render(text));
    return '';
  } catch {
    return SHARE_IMAGE_WARNING;
  }
}
