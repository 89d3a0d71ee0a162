/**
 * The Brevo connector (docs/decisions/083-brevo-connector.md), against Brevo's documented
 * contacts API (https://developers.brevo.com/reference, header `api-key`):
 *
 * - `lead.confirmed` with a confirmed newsletter consent: `POST /v3/contacts` with
 *   `updateEnabled: true` (create or update), `listIds: [list]`, and as `attributes` the first
 *   name and the DOI proof of the newsletter consent (time and IP of the confirmation, the
 *   text version), under the attribute names ops chose. Checked against D1 first: a late
 *   event never adds someone who has unsubscribed or been erased since.
 * - `lead.unsubscribed`: `PUT /v3/contacts/{email}?identifierType=email_id` with
 *   `unlinkListIds: [list]`: the person leaves the list.
 * - `lead.erased`: `DELETE /v3/contacts/{email}?identifierType=email_id`: the contact is
 *   gone there too (Art. 17(2) DSGVO).
 * 404 on the last two means there is nothing to remove: done. 400, 401 and 403 will not
 * heal by waiting and are dead-lettered at once, with Brevo's message for ops; anything
 * else (429, 5xx, no answer) is retried like a webhook.
 */
import * as v from 'valibot';
import { attemptFetch, type Attempt } from './deliver';
import { forgetContact, rememberContact, wantsNewsletter, type BrevoSettings } from './connector-store';

export const BREVO_API = 'https://api.brevo.com/v3';

export type BrevoResult =
  | { kind: 'done'; attempt: Attempt }
  | { kind: 'failed'; attempt: Attempt; permanent: boolean }
  /** Nothing to send any more (German reason for ops). */
  | { kind: 'skipped'; reason: string };

const Proof = v.object({ at: v.string(), ip: v.string() });
const Payload = v.object({
  type: v.string(),
  data: v.object({
    leadId: v.string(),
    email: v.pipe(v.string(), v.email()),
    firstName: v.optional(v.string(), ''),
    consents: v.optional(
      v.array(
        v.object({
          kind: v.string(),
          status: v.string(),
          textVersion: v.string(),
          confirmed: v.nullish(Proof),
        }),
      ),
      [],
    ),
  }),
});

function brevoError(status: number | null, fallback: string | null): string | null {
  if (status === null) return fallback;
  if (status === 401 || status === 403)
    return `Brevo lehnt den API-Schlüssel ab (${status}). Bitte BREVO_API_KEY prüfen.`;
  if (status === 400)
    return 'Brevo lehnt die Daten ab (400), z. B. ein Attribut, das es im Konto nicht gibt.';
  return `Brevo hat mit Status ${status} geantwortet.`;
}

async function call(
  apiKey: string,
  method: 'POST' | 'PUT' | 'DELETE',
  path: string,
  body: unknown,
  notFoundIsDone: boolean,
): Promise<BrevoResult> {
  const ok = (s: number) => (s >= 200 && s < 300) || (notFoundIsDone && s === 404);
  const attempt = await attemptFetch(
    `${BREVO_API}${path}`,
    {
      method,
      headers: {
        'api-key': apiKey,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    },
    { ok },
  );
  if (attempt.status !== null && ok(attempt.status)) return { kind: 'done', attempt };
  const permanent = attempt.status === 400 || attempt.status === 401 || attempt.status === 403;
  return {
    kind: 'failed',
    permanent,
    attempt: { ...attempt, error: brevoError(attempt.status, attempt.error) },
  };
}

const contactPath = (email: string) => `/contacts/${encodeURIComponent(email)}?identifierType=email_id`;

/** The contact attributes for a confirmed lead: first name and DOI proof, where named. */
export function contactAttributes(
  data: v.InferOutput<typeof Payload>['data'],
  names: BrevoSettings['attributes'],
): Record<string, string> {
  const out: Record<string, string> = {};
  const newsletter = data.consents.find((c) => c.kind === 'newsletter' && c.status === 'confirmed');
  if (names.firstName && data.firstName) out[names.firstName] = data.firstName;
  if (newsletter?.confirmed) {
    if (names.doiAt) out[names.doiAt] = newsletter.confirmed.at;
    if (names.doiIp) out[names.doiIp] = newsletter.confirmed.ip;
  }
  if (names.doiTextVersion && newsletter) out[names.doiTextVersion] = newsletter.textVersion;
  return out;
}

/** Passes one event on to Brevo. Never throws for Brevo's answers; D1 errors propagate. */
export async function syncToBrevo(
  db: D1Database,
  apiKey: string,
  settings: BrevoSettings,
  event: { type: string; payload: string },
  nowMs: number,
): Promise<BrevoResult> {
  let parsed;
  try {
    parsed = v.safeParse(Payload, JSON.parse(event.payload));
  } catch {
    parsed = null;
  }
  if (!parsed?.success)
    return { kind: 'skipped', reason: 'Das Ereignis ist unlesbar und wird nicht übertragen.' };
  const { data } = parsed.output;
  const noList = { kind: 'skipped', reason: 'Keine Brevo-Liste gewählt.' } as const;

  switch (event.type) {
    case 'lead.confirmed': {
      if (settings.listId === null) return noList;
      if (!(await wantsNewsletter(db, data.leadId)))
        return { kind: 'skipped', reason: 'Inzwischen abgemeldet oder gelöscht: nicht übertragen.' };
      const result = await call(
        apiKey,
        'POST',
        '/contacts',
        {
          email: data.email,
          updateEnabled: true,
          listIds: [settings.listId],
          attributes: contactAttributes(data, settings.attributes),
        },
        false,
      );
      if (result.kind !== 'done') return result;
      // Erased while the contact was being added: take it out again right away.
      if (!(await rememberContact(db, data.leadId, nowMs))) {
        const undo = await call(apiKey, 'DELETE', contactPath(data.email), undefined, true);
        if (undo.kind !== 'done') return undo;
      }
      return result;
    }
    case 'lead.unsubscribed':
      if (settings.listId === null) return noList;
      return call(apiKey, 'PUT', contactPath(data.email), { unlinkListIds: [settings.listId] }, true);
    case 'lead.erased': {
      const result = await call(apiKey, 'DELETE', contactPath(data.email), undefined, true);
      if (result.kind === 'done') await forgetContact(db, data.leadId);
      return result;
    }
    default:
      return { kind: 'skipped', reason: 'Dieses Ereignis überträgt der Brevo-Connector nicht.' };
  }
}
