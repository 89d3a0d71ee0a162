/**
 * Speaker photos, the host's logo and the share image.
 *
 *   POST /api/admin/media   body: the image bytes, `Content-Type: image/webp` (photo,
 *                           logo) or `image/png` (share image), ≤ 1 MB
 *                           → 201 { hash, width, height } (role marketing)
 *   GET  /media/<sha256>    public, immutable (the URL changes whenever the bytes do)
 *
 * The browser crops, resizes and draws before uploading (photos: 480 px and 160 px), so
 * the worker never decodes an image; it checks magic bytes, size and the dimensions in
 * the header (worker/media-store.ts).
 */
import { Hono } from 'hono';
import { limitBody } from '../body-limit';
import { appendAudit } from '../audit-log';
import { requireRole, type AdminEnv } from '../auth';
import { getMedia, MAX_MEDIA_BYTES, storeMedia } from '../media-store';

export const MEDIA_MESSAGES = {
  contentType:
    'Bitte laden Sie das Bild als image/webp oder image/png hoch (der Editor wandelt es automatisch um).',
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
      if (type !== 'image/webp' && type !== 'image/png')
        return c.json({ ok: false, error: MEDIA_MESSAGES.contentType }, 415);
      if (Number(c.req.header('content-length') ?? 0) > MAX_MEDIA_BYTES)
        return c.json({ ok: false, error: MEDIA_MESSAGES.tooLarge }, 413);
      const bytes = new Uint8Array(await c.req.arrayBuffer());
      const result = await storeMedia(c.env.CONTENT, bytes, type);
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
        detail: { type, width: result.width, height: result.height, bytes: bytes.length },
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
