/**
 * The share image (`og:image`, `twitter:image`): 1200 × 630 px with the webinar's title
 * and date, drawn on a canvas. The editor draws it in the marketer's browser on publish
 * (src/admin/editor/share-upload.ts) and uploads it as PNG; `npm run share-image` draws
 * the repo default's fallback in Chromium (scripts/share-image.ts). The worker never
 * draws text itself. See docs/decisions/073-share-image.md.
 */
import type { WebinarConfig } from './webinar-config';
import { formatGermanDateTime } from './schedule';

export const SHARE_IMAGE_SIZE = { width: 1200, height: 630 } as const;
/** The repo default's share image, in public/ (drawn by `npm run share-image`). */
export const DEFAULT_SHARE_IMAGE_PATH = '/og-default.png';

/** What the image says. */
export interface ShareImageText {
  eyebrow: string;
  title: string;
  when: string;
  footer: string;
}

/** The image's texts from a config; a change to any of them needs a new image. */
export function shareImageText(config: WebinarConfig): ShareImageText {
  return {
    eyebrow: config.webinar.eyebrow,
    title: config.webinar.title,
    when: formatGermanDateTime(Date.parse(config.webinar.start)),
    footer: config.reassurance,
  };
}

/**
 * Draws the image onto a 1200 × 630 canvas context. Self-contained on purpose (no
 * reference outside its body): the fallback script runs its source text in Chromium.
 */
export function drawShareImage(
  ctx: CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D,
  text: ShareImageText,
) {
  const W = 1200;
  const H = 630;
  const X = 80;
  const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif';
  // Flat colours, not a gradient: a gradient's dithering makes the PNG ten times larger.
  ctx.fillStyle = '#14213d';
  ctx.fillRect(0, 0, W, H);
  ctx.fillStyle = '#1a2c52';
  ctx.beginPath();
  ctx.arc(W - 40, 40, 420, 0, 2 * Math.PI);
  ctx.fill();
  ctx.fillStyle = '#f3c74b';
  ctx.fillRect(0, H - 14, W, 14);

  // The title: as large as fits in at most three lines.
  const lines = (t: string, size: number) => {
    ctx.font = `700 ${size}px ${FONT}`;
    const out: string[] = [];
    for (const word of t.split(/\s+/)) {
      const next = out.length ? `${out[out.length - 1]} ${word}` : word;
      if (out.length && ctx.measureText(next).width <= W - 2 * X) out[out.length - 1] = next;
      else out.push(word);
    }
    return out;
  };
  let size = 76;
  let title = lines(text.title, size);
  while (size > 40 && (title.length > 3 || title.some((l) => ctx.measureText(l).width > W - 2 * X))) {
    size -= 4;
    title = lines(text.title, size);
  }

  ctx.textBaseline = 'alphabetic';
  ctx.font = `600 28px ${FONT}`;
  ctx.fillStyle = '#f3c74b';
  ctx.fillText(text.eyebrow.toUpperCase(), X, 110, W - 2 * X);

  ctx.font = `700 ${size}px ${FONT}`;
  ctx.fillStyle = '#ffffff';
  const lineHeight = Math.round(size * 1.15);
  title.forEach((line, i) => ctx.fillText(line, X, 110 + 40 + lineHeight * (i + 1) - 12, W - 2 * X));

  ctx.font = `700 36px ${FONT}`;
  ctx.fillStyle = '#ffffff';
  ctx.fillText(text.when, X, H - 130, W - 2 * X);
  ctx.font = `500 28px ${FONT}`;
  ctx.fillStyle = '#e6e9f2';
  ctx.fillText(text.footer, X, H - 74, W - 2 * X);
}
