/**
 * The webhook contract both sides know: the event types a receiver can subscribe to, their
 * German labels for the ops admin, and the shapes the admin API answers with. No runtime
 * beyond two constants, so the admin bundle stays small.
 */

/** Events ops can subscribe an endpoint to (README, "Webhooks"). */
export const WEBHOOK_EVENT_TYPES = [
  'lead.registered',
  'lead.confirmed',
  'lead.unsubscribed',
  'lead.erased',
  'giveaway.drawn',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Sent only by "Test senden" in the admin, to that one endpoint. */
export const WEBHOOK_TEST_TYPE = 'webhook.test';

/** Payload schema version (top-level `version`); a breaking change gets a new number. */
export const WEBHOOK_PAYLOAD_VERSION = 1;

export const WEBHOOK_EVENT_LABELS: Record<WebhookEventType | typeof WEBHOOK_TEST_TYPE, string> = {
  'lead.registered': 'Anmeldung eingegangen',
  'lead.confirmed': 'Anmeldung bestätigt',
  'lead.unsubscribed': 'Abgemeldet',
  'lead.erased': 'Daten gelöscht',
  'giveaway.drawn': 'Gewinner ausgelost',
  'webhook.test': 'Testereignis',
};

export type DeliveryState = 'pending' | 'delivered' | 'dead' | 'cancelled';

/** One delivery as ops see it: never a payload, never a secret. */
export interface DeliveryView {
  /** The `webhook-id` header. */
  id: string;
  eventType: string;
  target: string;
  createdAt: string;
  state: DeliveryState;
  attempts: number;
  lastAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  latencyMs: number | null;
  excerpt: string | null;
  nextAt: string | null;
}

export interface EndpointView {
  id: string;
  url: string;
  events: WebhookEventType[];
  enabled: boolean;
  disabledReason: string | null;
  createdAt: string;
  /** Until then the previous secret signs as well (after a rotation). */
  previousSecretUntil: string | null;
  deliveries: DeliveryView[];
}

export interface WebhooksOverview {
  ok: true;
  endpoints: EndpointView[];
  deadLetters: DeliveryView[];
}

/** Attribute names in Brevo for the first name and the DOI proof; '' = not sent. */
export interface BrevoAttributes {
  firstName: string;
  doiAt: string;
  doiIp: string;
  doiTextVersion: string;
}

export interface BrevoSettingsView {
  ok: true;
  enabled: boolean;
  listId: number | null;
  attributes: BrevoAttributes;
  /** Whether the BREVO_API_KEY secret is set (its value is never shown). */
  apiKeyConfigured: boolean;
  deliveries: DeliveryView[];
}
