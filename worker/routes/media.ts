/**
 * Speaker photos.
 *
 *   POST /api/admin/media   body: the image bytes, `Content-Type: image/webp`, ≤ 1 MB
 *                           → 201 { hash, width, height } (role marketing)
 *   GET  /media/<sha256>    public, immutable (the URL changes whenever the bytes do)
 *
 * The browser crops and resizes before uploading (two uploads: 480 px and 160 px), so
 * the worker never decodes an image; it checks magic bytes, size and the dimensions in
 * the WebP header (worker/media-store.ts).
 */
import { Hono } from 'hono';
import { limitBody } from '../body-limit';
import { appendAudit } from '../audit-log';
import { requireRole, type AdminEnv } from '../auth';
import { getMedia, MAX_MEDIA_BYTES, storeMedia } from '../media-store';

export const MEDIA_MESSAGES = {
  contentType: 'Bitte laden Sie das Bild als image/webp hoch (der Editor wandelt es automatisch um).',
  tooLarge: `Das Bild ist zu groß (höchstens ${MAX_MEDIA_BYTES / 1024 / 1024} MB nach dem Verkleinern).`,
} as const;

export const mediaRoutes = new Hono<AdminEnv>()
  .post(
    '/api/admin/media',
    requireRole('marketing'),
    limitBody({
      // A photo of up to MAX_MEDIA_BYTES over a phone's upload link: more time than a form gets.
      timeoutMs: 60_000,
      maxSize: MAX_MEDIA_BYTES,
      onError: (c) => c.json({ ok: false, error: MEDIA_MESSAGES.tooLarge, code: 'too_large' }, 413),
    }),
    async (c) => {
      const type = (c.req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
      if (type !== 'image/webp') return c.json({ ok: false, error: MEDIA_MESSAGES.contentType }, 415);
      if (Number(c.req.header('content-length') ?? 0) > MAX_MEDIA_BYTES)
        return c.json({ ok: false, error: MEDIA_MESSAGES.tooLarge }, 413);
      const bytes = new Uint8Array(await c.req.arrayBuffer());
      const result = await storeMedia(c.env.CONTENT, bytes);
      if (!result.ok)
        return c.json(
          { ok: false, error: result.message, code: result.code },
          result.code === 'too_large' ? 413 : 400,
        );
      const who = c.get('identity');
      await appendAudit(c.env.DB, {
        role: who.role,
        id: who.id,
        action: 'media.uploaded',
        detail: { width: result.width, bytes: bytes.length },
      });
      return c.json({ ok: true, hash: result.hash, width: result.width, height: result.height }, 201);
    },
  )
  .get('/media/:hash', async (c) => {
    const media = await getMedia(c.env.CONTENT, c.req.param('hash'));
    if (!media) {
      c.header('Cache-Control', 'no-store');
      return c.text('Nicht gefunden.', 404);
    }
    return c.body(media.body, 200, {
      'Content-Type': media.meta.type,
      'Cache-Control': 'public, max-age=31536000, immutable',
      ETag: `"${c.req.param('hash')}"`,
    });
  });
