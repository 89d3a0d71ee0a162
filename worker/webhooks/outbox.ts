/**
 * The webhook event outbox (`webhook_events`, migrations/0002_webhooks.sql): the statements
 * the lead store and the giveaway draw spread into their own `db.batch`, so an event is
 * stored in the same transaction as the change it describes, or not at all. The batch
 * makes no subrequest; a dispatcher moves the rows to the queue later (dispatch.ts).
 *
 * Each statement is an `INSERT … SELECT` that writes a row only
 * - when the change really happened in this batch (the lead's `created_at`,
 *   `confirmed_at` or `unsubscribed_at` equals the batch's time), and
 * - while an enabled endpoint subscribes to the type, or the Brevo connector is on and
 *   uses it: without webhooks nothing is stored.
 * The payload is built in SQL from the rows as the batch leaves them, and stored as the
 * exact body that is signed and sent (README, "Webhooks", for the shapes).
 */
import { WEBHOOK_PAYLOAD_VERSION, type WebhookEventType } from '../../src/lib/webhooks';

/** Event types the Brevo connector acts on (brevo.ts). */
export const CONNECTOR_EVENT_TYPES = ['lead.confirmed', 'lead.unsubscribed', 'lead.erased'] as const;

const iso = (col: string) => `strftime('%Y-%m-%dT%H:%M:%fZ', ${col} / 1000.0, 'unixepoch')`;

/** True while someone listens for type `?{n}`. */
const subscribed = (n: number) => `(
  EXISTS (SELECT 1 FROM webhook_endpoints ep, json_each(ep.events) ev WHERE ep.enabled = 1 AND ev.value = ?${n})
  OR (?${n} IN (${CONNECTOR_EVENT_TYPES.map((t) => `'${t}'`).join(', ')})
      AND EXISTS (SELECT 1 FROM connector_settings WHERE name = 'brevo' AND enabled = 1)))`;

/**
 * Or the Brevo connector added this lead (`l`) once: its unsubscribe and erasure are passed
 * on even while the connector is switched off, which only stops new contacts.
 */
const addedToBrevo = `EXISTS (SELECT 1 FROM connector_contacts cc WHERE cc.connector = 'brevo' AND cc.lead_id = l.id)`;

const newId = `'evt_' || lower(hex(randomblob(12)))`;

/** `{ type, timestamp, version, data }`: ?2 is the type, ?4 the event time as ISO text. */
const envelope = (data: string) =>
  `json_object('type', ?2, 'timestamp', ?4, 'version', ${WEBHOOK_PAYLOAD_VERSION}, 'data', ${data})`;

/** A JSON array of `item` over the lead's consents matching `where`, oldest first. */
const consentArray = (item: string, where: string) =>
  `json((SELECT json_group_array(json(item)) FROM (
     SELECT ${item} AS item FROM consents c WHERE c.lead_id = l.id AND ${where} ORDER BY c.id)))`;

/** Confirmed consents with their proof (time, IP, user agent of giving and confirming). */
const consentsWithProof = consentArray(
  `json_object('kind', c.kind, 'status', c.status, 'textVersion', c.text_version,
    'given', json_object('at', ${iso('c.given_at')}, 'ip', c.given_ip, 'userAgent', c.given_ua),
    'confirmed', CASE WHEN c.confirmed_at IS NULL THEN NULL ELSE
      json_object('at', ${iso('c.confirmed_at')}, 'ip', c.confirmed_ip, 'userAgent', c.confirmed_ua) END)`,
  `c.status = 'confirmed'`,
);

const givenConsents = consentArray(
  `json_object('kind', c.kind, 'status', c.status, 'textVersion', c.text_version)`,
  `c.status <> 'withdrawn'`,
);

type LeadEventType = Exclude<WebhookEventType, 'lead.erased' | 'giveaway.drawn'>;

const LEAD_EVENTS: Record<LeadEventType, { when: string; data: string; orWhen?: string }> = {
  'lead.registered': {
    when: `l.created_at = ?3`,
    data: `json_object('leadId', l.id, 'at', ?4, 'email', l.email, 'firstName', l.first_name,
      'phase', l.phase, 'consents', ${givenConsents})`,
  },
  // Also when an already confirmed lead confirms a consent added later (e.g. the newsletter).
  'lead.confirmed': {
    when: `l.status = 'confirmed' AND EXISTS (SELECT 1 FROM consents WHERE lead_id = l.id AND confirmed_at = ?3)`,
    data: `json_object('leadId', l.id, 'at', ?4, 'email', l.email, 'firstName', l.first_name,
      'consents', ${consentsWithProof})`,
  },
  'lead.unsubscribed': {
    when: `l.status = 'unsubscribed' AND l.unsubscribed_at = ?3`,
    orWhen: addedToBrevo,
    data: `json_object('leadId', l.id, 'at', ?4, 'email', l.email)`,
  },
};

/**
 * The statements that record `type` for lead `leadId` when the batch changed it at
 * `atMs`. Put them after the statements that make the change.
 */
export function eventStatements(
  db: D1Database,
  type: LeadEventType,
  leadId: string,
  atMs: number,
): D1PreparedStatement[] {
  const e = LEAD_EVENTS[type];
  return [
    db
      .prepare(
        `INSERT INTO webhook_events (id, type, lead_id, at, payload)
         SELECT ${newId}, ?2, l.id, ?3, ${envelope(e.data)}
         FROM leads l WHERE l.id = ?1 AND ${e.when} AND (${subscribed(2)}${e.orWhen ? ` OR ${e.orWhen}` : ''})`,
      )
      .bind(leadId, type, atMs, new Date(atMs).toISOString()),
  ];
}

/**
 * The statements an erasure of `mailbox` needs, to be put BEFORE the batch deletes the
 * leads: one `lead.erased` per lead of the mailbox (lead id and address, so a receiver can
 * delete the person too, Art. 17(2) and 19 DSGVO), and the deletion of every other
 * undelivered event of those leads, whose payloads hold their data.
 */
export function erasureStatements(db: D1Database, mailbox: string, atMs: number): D1PreparedStatement[] {
  return [
    db
      .prepare(
        `INSERT INTO webhook_events (id, type, lead_id, at, payload)
         SELECT ${newId}, ?2, l.id, ?3, ${envelope(`json_object('leadId', l.id, 'at', ?4, 'email', l.email)`)}
         FROM leads l WHERE l.mailbox = ?1 AND (${subscribed(2)} OR ${addedToBrevo})`,
      )
      .bind(mailbox, 'lead.erased', atMs, new Date(atMs).toISOString()),
    db
      .prepare(
        `DELETE FROM webhook_events WHERE type <> 'lead.erased'
           AND lead_id IN (SELECT id FROM leads WHERE mailbox = ?1)`,
      )
      .bind(mailbox),
  ];
}

/**
 * The statement that records `giveaway.drawn` for the draw `drawId`, to be put after the
 * statement that inserts the draw. Winners are lead ids only: a receiver knows them from
 * `lead.registered`, and no address leaves with a draw.
 */
export function drawEventStatements(db: D1Database, drawId: string, atMs: number): D1PreparedStatement[] {
  return [
    db
      .prepare(
        `INSERT INTO webhook_events (id, type, lead_id, at, payload)
         SELECT ${newId}, ?2, NULL, ?3, ${envelope(`json_object('drawId', d.id, 'at', ?4, 'seq', d.seq,
           'winners', json(d.winners), 'eligibleCount', d.eligible_count, 'eligibleHash', d.eligible_hash,
           'redraw', json(CASE WHEN d.replaces IS NULL THEN 'false' ELSE 'true' END))`)}
         FROM draws d WHERE d.id = ?1 AND ${subscribed(2)}`,
      )
      .bind(drawId, 'giveaway.drawn', atMs, new Date(atMs).toISOString()),
  ];
}

/** Stores a test event for one endpoint (admin "Test senden"); returns its id. */
export async function recordTestEvent(db: D1Database, endpointId: string, atMs: number): Promise<string> {
  const row = await db
    .prepare(
      `INSERT INTO webhook_events (id, type, lead_id, at, payload, only_target)
       VALUES (${newId}, ?2, NULL, ?3, ${envelope(`json_object('endpointId', ?1, 'message',
         'Dies ist ein Testereignis aus dem Ops-Bereich. Es gehört zu keinem Lead.')`)}, ?1)
       RETURNING id`,
    )
    .bind(endpointId, 'webhook.test', atMs, new Date(atMs).toISOString())
    .first<{ id: string }>();
  return row!.id;
}
