/**
 * Webhook and connector routes (role `ops` only; marketing gets 403 on every one). Every
 * change is audited with the endpoint id and host, never the full URL (its path may be the
 * receiver's secret, as with Zapier or Make) and never a signing secret.
 *
 *   GET    /api/admin/webhooks                        endpoints with recent deliveries, dead letters
 *   POST   /api/admin/webhooks                        `{ url, events }` → 201 `{ id, secret }` (shown once)
 *   POST   /api/admin/webhooks/:id/disable | enable
 *   DELETE /api/admin/webhooks/:id
 *   POST   /api/admin/webhooks/:id/test               a `webhook.test` event to this endpoint only
 *   POST   /api/admin/webhooks/:id/rotate-secret      → `{ secret }` (shown once; the old one signs 24 h more)
 *   POST   /api/admin/webhooks/deliveries/:id/resend  a dead letter again, same `webhook-id`
 *   GET    /api/admin/connectors/brevo                settings, whether the API key is set, deliveries
 *   PUT    /api/admin/connectors/brevo                `{ enabled, listId, attributes }`
 *
 * Invalid input answers 400 `{ ok: false, errors: { <field>: "<German message>" } }`.
 */
import { Hono, type Context } from 'hono';
import * as v from 'valibot';
import {
  WEBHOOK_EVENT_TYPES,
  type BrevoSettingsView,
  type WebhookEventType,
  type WebhooksOverview,
} from '../../src/lib/webhooks';
import { appendAudit } from '../audit-log';
import { refuse, requireRole, type AdminEnv } from '../auth';
import { limitBody } from '../body-limit';
import { errorMessage, log } from '../log';
import { BREVO, getBrevoSettings, saveBrevoSettings } from '../webhooks/connector-store';
import { dispatchOutbox, type DeliveryMessage } from '../webhooks/dispatch';
import {
  createEndpoint,
  deleteEndpoint,
  endpointState,
  listDeadLetters,
  listEndpoints,
  recentDeliveries,
  reviveDeadLetter,
  rotateSecret,
  setEndpointEnabled,
} from '../webhooks/endpoint-store';
import { recordTestEvent } from '../webhooks/outbox';
import { checkWebhookUrl, URL_MAX_LENGTH, URL_MESSAGES } from '../webhooks/url-policy';

/** Each endpoint fans every event out once more; a handful is what ops need. */
export const MAX_ENDPOINTS = 20;

const MSG = {
  badJson: 'Die Anfrage enthält kein gültiges JSON.',
  tooLarge: 'Die Anfrage ist zu groß.',
  events: 'Bitte wählen Sie mindestens ein Ereignis.',
  eventUnknown: `Unbekanntes Ereignis. Erlaubt sind: ${WEBHOOK_EVENT_TYPES.join(', ')}.`,
  eventTwice: 'Jedes Ereignis darf nur einmal vorkommen.',
  tooMany: `Es sind höchstens ${MAX_ENDPOINTS} Endpunkte möglich. Bitte löschen Sie zuerst einen.`,
  notFound: 'Diesen Endpunkt gibt es nicht (mehr).',
  deliveryNotFound: 'Diese Zustellung ist nicht (mehr) in den Fehlschlägen.',
  disabled: 'Der Endpunkt ist ausgeschaltet. Bitte schalten Sie ihn zuerst wieder ein.',
  busy: 'Der Speicher oder die Warteschlange ist gerade nicht erreichbar. Bitte versuchen Sie es gleich noch einmal.',
  enabled: 'Bitte geben Sie an, ob der Connector eingeschaltet sein soll.',
  listId: 'Die Listen-ID ist die Nummer der Brevo-Liste (eine ganze Zahl ab 1).',
  listNeeded: 'Zum Einschalten brauchen wir die ID der Brevo-Liste.',
  attribute:
    'Attributnamen bestehen aus Großbuchstaben, Ziffern, _ und - (höchstens 50 Zeichen), wie in Brevo; leer = nicht übertragen.',
  noApiKey:
    'Der API-Schlüssel fehlt: Bitte zuerst `npx wrangler secret put BREVO_API_KEY` ausführen (lokal: BREVO_API_KEY in .dev.vars).',
} as const;

const CreateBody = (allowLoopback: boolean) =>
  v.object({
    // Missing fields become empty ones, so each gets its own message rather than valibot's.
    url: v.pipe(
      v.optional(v.string(URL_MESSAGES.invalid), ''),
      v.trim(),
      v.nonEmpty(URL_MESSAGES.invalid),
      v.maxLength(URL_MAX_LENGTH, URL_MESSAGES.tooLong),
      v.rawTransform(({ dataset, addIssue, NEVER }) => {
        const verdict = checkWebhookUrl(dataset.value, { allowLoopback });
        if (verdict.ok) return verdict.url;
        addIssue({ message: verdict.message });
        return NEVER;
      }),
    ),
    events: v.pipe(
      v.optional(v.array(v.picklist(WEBHOOK_EVENT_TYPES, MSG.eventUnknown), MSG.events), []),
      v.minLength(1, MSG.events),
      v.check((list) => new Set(list).size === list.length, MSG.eventTwice),
    ),
  });

const AttributeName = v.optional(
  v.pipe(v.string(MSG.attribute), v.trim(), v.regex(/^[A-Z0-9_-]{0,50}$/, MSG.attribute)),
);

const BrevoBody = v.pipe(
  v.object({
    enabled: v.optional(v.boolean(MSG.enabled)),
    listId: v.nullish(
      v.pipe(
        v.number(MSG.listId),
        v.integer(MSG.listId),
        v.minValue(1, MSG.listId),
        v.maxValue(2 ** 31, MSG.listId),
      ),
      null,
    ),
    attributes: v.optional(
      v.object({
        firstName: AttributeName,
        doiAt: AttributeName,
        doiIp: AttributeName,
        doiTextVersion: AttributeName,
      }),
      {},
    ),
  }),
  // A missing `enabled` must not read as "off": say so at the field.
  v.forward(
    v.check((b) => b.enabled !== undefined, MSG.enabled),
    ['enabled'],
  ),
  v.forward(
    v.check((b) => !b.enabled || b.listId !== null, MSG.listNeeded),
    ['listId'],
  ),
);

const EndpointId = /^ep_[0-9a-f]{16}$/;
const DeliveryId = /^msg_[0-9a-f]{24}_(?:[0-9a-f]{16}|brevo)$/;

type Ctx = Context<AdminEnv>;

/** First message per top-level field: what the admin shows next to each field. */
function fieldErrors(issues: v.BaseIssue<unknown>[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of issues) {
    const field = String(issue.path?.[0]?.key ?? 'form');
    out[field] ??= issue.message;
  }
  return out;
}

async function parse<T extends v.GenericSchema>(
  c: Ctx,
  schema: T,
): Promise<{ ok: true; value: v.InferOutput<T> } | { ok: false; res: Response }> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    return { ok: false, res: refuse(c, 400, MSG.badJson) };
  }
  const parsed = v.safeParse(schema, body);
  if (parsed.success) return { ok: true, value: parsed.output };
  c.header('Cache-Control', 'no-store');
  return { ok: false, res: c.json({ ok: false as const, errors: fieldErrors(parsed.issues) }, 400) };
}

const hostOf = (url: string) => {
  try {
    return new URL(url).host;
  } catch {
    return '';
  }
};

function audit(c: Ctx, action: string, detail: Record<string, string | number | boolean>) {
  const who = c.get('identity');
  return appendAudit(c.env.DB, { role: who.role, id: who.id, action, detail });
}

function notFound(c: Ctx, message: string) {
  c.header('Cache-Control', 'no-store');
  return c.json({ ok: false as const, error: message }, 404);
}

const smallBody = limitBody({ maxSize: 8192, onError: (c) => refuse(c, 400, MSG.tooLarge) });
const ops = requireRole('ops');

/** The endpoint in the path, or a 404 answer. */
async function endpointParam(c: Ctx): Promise<{ id: string; enabled: boolean; url: string } | Response> {
  const id = c.req.param('id') ?? '';
  const state = EndpointId.test(id) ? await endpointState(c.env.DB, id) : null;
  return state ? { id, ...state } : notFound(c, MSG.notFound);
}

export const adminWebhookRoutes = new Hono<AdminEnv>()
  .get('/api/admin/webhooks', ops, async (c) => {
    const [endpoints, deadLetters] = await Promise.all([listEndpoints(c.env.DB), listDeadLetters(c.env.DB)]);
    return c.json({ ok: true, endpoints, deadLetters } satisfies WebhooksOverview);
  })
  .post('/api/admin/webhooks', ops, smallBody, async (c) => {
    const body = await parse(c, CreateBody(c.env.ENVIRONMENT === 'development'));
    if (!body.ok) return body.res;
    const count = await c.env.DB.prepare('SELECT COUNT(*) AS n FROM webhook_endpoints').first<{
      n: number;
    }>();
    if ((count?.n ?? 0) >= MAX_ENDPOINTS) return refuse(c, 409, MSG.tooMany);
    const who = c.get('identity');
    const created = await createEndpoint(c.env.DB, {
      url: body.value.url,
      events: body.value.events as WebhookEventType[],
      by: who.id,
      nowMs: Date.now(),
    });
    await audit(c, 'webhook.created', {
      endpoint: created.id,
      host: hostOf(body.value.url),
      events: body.value.events.join(','),
    });
    return c.json({ ok: true as const, id: created.id, secret: created.secret }, 201);
  })
  .post('/api/admin/webhooks/:id/disable', ops, async (c) => {
    const ep = await endpointParam(c);
    if (ep instanceof Response) return ep;
    await setEndpointEnabled(c.env.DB, ep.id, false, {
      reason: `Ausgeschaltet von ${c.get('identity').id}.`,
      nowMs: Date.now(),
    });
    await audit(c, 'webhook.disabled', { endpoint: ep.id, host: hostOf(ep.url) });
    return c.json({ ok: true as const });
  })
  .post('/api/admin/webhooks/:id/enable', ops, async (c) => {
    const ep = await endpointParam(c);
    if (ep instanceof Response) return ep;
    await setEndpointEnabled(c.env.DB, ep.id, true, { nowMs: Date.now() });
    await audit(c, 'webhook.enabled', { endpoint: ep.id, host: hostOf(ep.url) });
    return c.json({ ok: true as const });
  })
  .delete('/api/admin/webhooks/:id', ops, async (c) => {
    const ep = await endpointParam(c);
    if (ep instanceof Response) return ep;
    await deleteEndpoint(c.env.DB, ep.id);
    await audit(c, 'webhook.deleted', { endpoint: ep.id, host: hostOf(ep.url) });
    return c.json({ ok: true as const });
  })
  .post('/api/admin/webhooks/:id/test', ops, async (c) => {
    const ep = await endpointParam(c);
    if (ep instanceof Response) return ep;
    if (!ep.enabled) return refuse(c, 409, MSG.disabled);
    try {
      await recordTestEvent(c.env.DB, ep.id, Date.now());
      await dispatchOutbox(c.env);
    } catch (error) {
      log.error('webhooks.test_failed', { message: errorMessage(error) });
      return refuse(c, 503, MSG.busy);
    }
    await audit(c, 'webhook.tested', { endpoint: ep.id, host: hostOf(ep.url) });
    return c.json({ ok: true as const }, 202);
  })
  .post('/api/admin/webhooks/:id/rotate-secret', ops, async (c) => {
    const ep = await endpointParam(c);
    if (ep instanceof Response) return ep;
    const secret = await rotateSecret(c.env.DB, ep.id, Date.now());
    if (!secret) return notFound(c, MSG.notFound);
    await audit(c, 'webhook.secret_rotated', { endpoint: ep.id, host: hostOf(ep.url) });
    return c.json({ ok: true as const, secret });
  })
  .post('/api/admin/webhooks/deliveries/:id/resend', ops, async (c) => {
    const id = c.req.param('id');
    if (!DeliveryId.test(id)) return notFound(c, MSG.deliveryNotFound);
    const target = id.endsWith(`_${BREVO}`) ? BREVO : `ep_${id.slice(-16)}`;
    if (target !== BREVO) {
      const state = await endpointState(c.env.DB, target);
      if (state && !state.enabled) return refuse(c, 409, MSG.disabled);
    }
    const revived = await reviveDeadLetter(c.env.DB, id, Date.now());
    if (!revived) return notFound(c, MSG.deliveryNotFound);
    try {
      await c.env.WEBHOOK_QUEUE.send({ delivery: id } satisfies DeliveryMessage, { contentType: 'json' });
    } catch (error) {
      // Revived but not queued: the cron's next dispatch does not see it, so say so.
      log.error('webhooks.resend_enqueue_failed', { message: errorMessage(error) });
      return refuse(c, 503, MSG.busy);
    }
    await audit(c, 'webhook.resent', { delivery: id, target });
    return c.json({ ok: true as const }, 202);
  })
  .get('/api/admin/connectors/brevo', ops, async (c) => {
    const [settings, deliveries] = await Promise.all([
      getBrevoSettings(c.env.DB),
      recentDeliveries(c.env.DB, BREVO),
    ]);
    return c.json({
      ok: true,
      ...settings,
      apiKeyConfigured: !!c.env.BREVO_API_KEY,
      deliveries,
    } satisfies BrevoSettingsView);
  })
  .put('/api/admin/connectors/brevo', ops, smallBody, async (c) => {
    const body = await parse(c, BrevoBody);
    if (!body.ok) return body.res;
    if (body.value.enabled && !c.env.BREVO_API_KEY) return refuse(c, 409, MSG.noApiKey);
    const current = await getBrevoSettings(c.env.DB);
    const attributes = { ...current.attributes };
    for (const [k, val] of Object.entries(body.value.attributes))
      if (val !== undefined) attributes[k as keyof typeof attributes] = val;
    await saveBrevoSettings(
      c.env.DB,
      { enabled: body.value.enabled === true, listId: body.value.listId, attributes },
      { by: c.get('identity').id, nowMs: Date.now() },
    );
    await audit(c, 'connector.updated', {
      connector: BREVO,
      enabled: body.value.enabled === true,
      listId: body.value.listId ?? 0,
    });
    return c.json({ ok: true as const });
  });
