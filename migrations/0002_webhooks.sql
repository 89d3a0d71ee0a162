-- Webhooks and the Brevo connector (docs/decisions/080-webhooks.md). Times are ms since
-- the epoch (UTC), like 0001.

-- Receivers that ops registered. `secret` is the Standard Webhooks signing secret
-- (`whsec_…`); it is shown once when created or rotated and never read back by any API.
-- After a rotation the previous secret signs as well until `previous_until`, so a
-- receiver can switch without losing a delivery.
CREATE TABLE webhook_endpoints (
  id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  -- JSON array of event types, e.g. ["lead.confirmed","lead.erased"].
  events TEXT NOT NULL,
  secret TEXT NOT NULL,
  previous_secret TEXT,
  previous_until INTEGER,
  enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  -- Why it is off: ops switched it off, or the receiver answered 410 Gone.
  disabled_reason TEXT,
  disabled_at INTEGER,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);

-- The event outbox. Rows are written in the same batch as the change they describe, and
-- only while an enabled endpoint (or the connector) subscribes to the type, so without
-- webhooks nothing is stored. `payload` is the exact JSON body that is signed and sent.
-- A row is deleted once none of its deliveries is pending or dead-lettered: for
-- `lead.erased` (which carries the address) that is the end of the erasure.
CREATE TABLE webhook_events (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  lead_id TEXT,
  at INTEGER NOT NULL,
  payload TEXT NOT NULL,
  -- Set once its deliveries are on the queue.
  dispatched_at INTEGER,
  -- A dispatcher holds the row until then (cron and mail consumer may run at once).
  claim_until INTEGER NOT NULL DEFAULT 0,
  -- Only this endpoint (test events); NULL = every subscriber.
  only_target TEXT
);
CREATE INDEX webhook_events_undispatched ON webhook_events (dispatched_at, at);
CREATE INDEX webhook_events_lead ON webhook_events (lead_id);

-- One row per (event, target). `id` is the `webhook-id` header: the same for every attempt
-- and every resend, so receivers can drop duplicates. `target` is an endpoint id or
-- 'brevo'. Nothing personal: the event type, status codes, timings and a short, redacted
-- excerpt of the receiver's answer.
CREATE TABLE webhook_deliveries (
  id TEXT PRIMARY KEY,
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  target TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead', 'cancelled')),
  attempts INTEGER NOT NULL DEFAULT 0,
  -- A consumer holds the delivery until then (duplicate queue messages send once at a time).
  lease_until INTEGER NOT NULL DEFAULT 0,
  last_at INTEGER,
  -- HTTP status of the last attempt; NULL when there was no answer (timeout, network).
  last_status INTEGER,
  -- German reason of the last failure, for ops.
  last_error TEXT,
  latency_ms INTEGER,
  -- At most 200 characters of the last answer's body, addresses and IPs removed.
  excerpt TEXT,
  next_at INTEGER,
  ended_at INTEGER,
  UNIQUE (event_id, target)
);
CREATE INDEX webhook_deliveries_target ON webhook_deliveries (target, created_at);
CREATE INDEX webhook_deliveries_state ON webhook_deliveries (state, ended_at);

-- Built-in connectors (today: Brevo). Ops switch it on and choose the list in the admin;
-- the API key is a wrangler secret (BREVO_API_KEY), never stored here.
CREATE TABLE connector_settings (
  name TEXT PRIMARY KEY CHECK (name IN ('brevo')),
  enabled INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
  list_id INTEGER,
  -- JSON: the contact attribute names for the first name and the DOI proof.
  attributes TEXT NOT NULL DEFAULT '{}',
  updated_at INTEGER NOT NULL,
  updated_by TEXT NOT NULL
);

-- Leads the connector has added to the service (lead id only): an unsubscribe or an
-- erasure is passed on only for them, so nobody else's address ever reaches the service.
CREATE TABLE connector_contacts (
  connector TEXT NOT NULL,
  lead_id TEXT NOT NULL,
  synced_at INTEGER NOT NULL,
  PRIMARY KEY (connector, lead_id)
);
