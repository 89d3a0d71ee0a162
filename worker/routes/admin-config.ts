/**
 * The marketing JSON API: read, publish, history, roll back and preview the webinar
 * config. Role `marketing` only (ops gets 403: least privilege — ops never changes the
 * page); Bearer token, Access or session cookie + `X-CSRF-Token` (see worker/auth.ts).
 *
 *   GET  /api/admin/config           → { version, config, fallbackFrom? }
 *   PUT  /api/admin/config           { baseVersion, config } → 200 { version } | 400 | 409
 *   GET  /api/admin/config/history   → { current, entries: [{ version, publishedAt, publishedBy, summary }] }
 *   POST /api/admin/config/rollback  { version, baseVersion? } → 200 { version } | 404 | 409
 *   POST /api/admin/preview          { config } → text/html, the landing page for the draft
 *
 * `baseVersion` is the version the editor loaded: `fallbackFrom ?? version` from GET (when
 * the current record is corrupt, the marketer publishes over it).
 */
import { Hono, type Context } from 'hono';
import { limitBody } from '../body-limit';
import * as v from 'valibot';
import { parseWebinarConfig } from '../../src/lib/webinar-config';
import { appendAudit } from '../audit-log';
import { requireRole, type AdminEnv } from '../auth';
import {
  configFieldErrors,
  listHistory,
  publishConfig,
  readLiveConfigFresh,
  readPointer,
  rollbackConfig,
  type PublishResult,
} from '../config-store';
import { loadShell, renderLanding } from '../render';
import { allowSameOriginFraming } from '../security-headers';

/** A full config is about 10 KB; 256 KB leaves room for long legal texts, not for abuse. */
export const MAX_CONFIG_BODY_BYTES = 256 * 1024;

export const CONFIG_MESSAGES = {
  contentType: 'Bitte senden Sie die Daten als application/json.',
  tooLarge: `Die Anfrage ist zu groß (höchstens ${MAX_CONFIG_BODY_BYTES / 1024} KB).`,
  badJson: 'Die Anfrage enthält kein gültiges JSON.',
  invalid: 'Einige Angaben sind ungültig. Bitte korrigieren Sie die markierten Felder.',
  conflict: 'Jemand anderes hat inzwischen veröffentlicht – bitte neu laden.',
  unknownVersion: 'Diese Version gibt es nicht.',
  corruptVersion: 'Diese Version ist beschädigt und kann nicht wiederhergestellt werden.',
} as const;

const version = (what: string) =>
  v.pipe(
    v.number(`${what} muss eine Zahl sein.`),
    v.integer(`${what} muss eine ganze Zahl sein.`),
    v.minValue(0, `${what} darf nicht negativ sein.`),
    v.maxValue(1_000_000, `${what} ist zu groß.`),
  );

/** The config itself is checked by `WebinarConfig` in the store, for field-level errors. */
const PublishBody = v.object({ baseVersion: version('Die Basisversion'), config: v.unknown() });
const RollbackBody = v.object({
  version: version('Die Version'),
  baseVersion: v.optional(version('Die Basisversion')),
});
const PreviewBody = v.object({ config: v.unknown() });

type Ctx = Context<AdminEnv>;

/** Stops reading at the limit, with or without a Content-Length header. */
const configBody = limitBody({
  maxSize: MAX_CONFIG_BODY_BYTES,
  onError: (c) => c.json({ ok: false, error: CONFIG_MESSAGES.tooLarge }, 413),
});

/**
 * Reads a JSON body with a type check, a size limit (also without Content-Length) and a
 * valibot schema; answers the request itself when anything is wrong.
 */
async function readJson<S extends v.GenericSchema>(
  c: Ctx,
  schema: S,
): Promise<{ ok: true; value: v.InferOutput<S> } | { ok: false; res: Response }> {
  const type = (c.req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json')
    return { ok: false, res: c.json({ ok: false, error: CONFIG_MESSAGES.contentType }, 415) };
  const declared = Number(c.req.header('content-length') ?? 0);
  if (declared > MAX_CONFIG_BODY_BYTES)
    return { ok: false, res: c.json({ ok: false, error: CONFIG_MESSAGES.tooLarge }, 413) };
  const buf = await c.req.arrayBuffer();
  if (buf.byteLength > MAX_CONFIG_BODY_BYTES)
    return { ok: false, res: c.json({ ok: false, error: CONFIG_MESSAGES.tooLarge }, 413) };
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(buf));
  } catch {
    return { ok: false, res: c.json({ ok: false, error: CONFIG_MESSAGES.badJson }, 400) };
  }
  const parsed = v.safeParse(schema, raw);
  if (!parsed.success)
    return {
      ok: false,
      res: c.json(
        { ok: false, error: CONFIG_MESSAGES.invalid, errors: configFieldErrors(parsed.issues) },
        400,
      ),
    };
  return { ok: true, value: parsed.output };
}

async function answerPublish(c: Ctx, result: PublishResult, action: string) {
  const who = c.get('identity');
  if (result.ok) {
    await appendAudit(c.env.DB, {
      role: who.role,
      id: who.id,
      action,
      detail: { version: result.version },
    });
    return c.json({ ok: true as const, version: result.version, summary: result.summary }, 200);
  }
  switch (result.reason) {
    case 'invalid':
      return c.json({ ok: false as const, error: CONFIG_MESSAGES.invalid, errors: result.errors }, 400);
    case 'conflict':
      return c.json(
        { ok: false as const, error: CONFIG_MESSAGES.conflict, currentVersion: result.currentVersion },
        409,
      );
    case 'unknown_version':
      return c.json({ ok: false as const, error: CONFIG_MESSAGES.unknownVersion }, 404);
  }
}

export const adminConfigRoutes = new Hono<AdminEnv>()
  .get('/api/admin/config', requireRole('marketing'), async (c) => {
    const live = await readLiveConfigFresh(c.env.DB, c.env.CONTENT);
    return c.json(live);
  })
  .put('/api/admin/config', requireRole('marketing'), configBody, async (c) => {
    const body = await readJson(c, PublishBody);
    if (!body.ok) return body.res;
    const result = await publishConfig(c.env.DB, c.env.CONTENT, {
      baseVersion: body.value.baseVersion,
      config: body.value.config,
      by: c.get('identity').id,
    });
    return answerPublish(c, result, 'config.published');
  })
  .get('/api/admin/config/history', requireRole('marketing'), async (c) => {
    const [current, entries] = await Promise.all([
      readPointer(c.env.DB, c.env.CONTENT),
      listHistory(c.env.CONTENT),
    ]);
    return c.json({ current, entries });
  })
  .post('/api/admin/config/rollback', requireRole('marketing'), configBody, async (c) => {
    const body = await readJson(c, RollbackBody);
    if (!body.ok) return body.res;
    const result = await rollbackConfig(c.env.DB, c.env.CONTENT, { ...body.value, by: c.get('identity').id });
    if (!result.ok && result.reason === 'invalid')
      return c.json(
        { ok: false as const, error: CONFIG_MESSAGES.corruptVersion, errors: result.errors },
        409,
      );
    return answerPublish(c, result, 'config.rolled_back');
  })
  .post('/api/admin/preview', requireRole('marketing'), configBody, async (c) => {
    const body = await readJson(c, PreviewBody);
    if (!body.ok) return body.res;
    const parsed = parseWebinarConfig(body.value.config);
    if (!parsed.success)
      return c.json(
        { ok: false as const, error: CONFIG_MESSAGES.invalid, errors: configFieldErrors(parsed.issues) },
        400,
      );
    const shell = await loadShell(
      c.env.ASSETS,
      new URL(c.req.url).origin,
      c.env.ENVIRONMENT === 'development',
    );
    // version -1 is never a cache key (renderLanding does not cache), so drafts stay private.
    const html = renderLanding(shell, { version: -1, config: parsed.output }, Date.now());
    allowSameOriginFraming(c);
    c.header('X-Robots-Tag', 'noindex');
    return c.html(html);
  });
