-- Person data in D1 (docs/decisions/060-person-data-in-d1.md). One strongly consistent
-- primary, created in the EU jurisdiction: every race (register, confirm, erase, claim a
-- mail, draw) is decided by a conditional statement here. Times are ms since the epoch (UTC).

-- One row per person, keyed by HMAC-SHA256(normalised address, LEAD_KEY_SECRET).
CREATE TABLE leads (
  id TEXT PRIMARY KEY,
  -- HMAC of the canonical mailbox (+tag removed, Gmail dots): one giveaway entry per
  -- mailbox, suppression after erasure, mail budgets.
  mailbox TEXT NOT NULL,
  -- The address as typed (trimmed): what mails and exports show.
  email TEXT NOT NULL,
  first_name TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'unsubscribed')),
  -- Phase of the webinar at registration: 'after' is a replay request.
  phase TEXT NOT NULL CHECK (phase IN ('before', 'live', 'after')),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  confirmed_at INTEGER,
  unsubscribed_at INTEGER,
  -- The published config version the form was rendered from (NULL: unknown).
  config_version INTEGER,
  utm_source TEXT,
  utm_medium TEXT,
  utm_campaign TEXT,
  utm_term TEXT,
  utm_content TEXT,
  referrer TEXT,
  landing_path TEXT
);
CREATE INDEX leads_mailbox ON leads (mailbox);
CREATE INDEX leads_created ON leads (created_at);
CREATE INDEX leads_status_id ON leads (status, id);

-- Append-only consents. The first consent of a kind wins (at most one pending or confirmed
-- row per lead and kind); a new one stays pending until its own confirmation. Each row
-- keeps the text the visitor saw and the proof of giving and of confirming.
CREATE TABLE consents (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  lead_id TEXT NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('privacy', 'giveaway', 'newsletter')),
  status TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'withdrawn')),
  text_version TEXT NOT NULL,
  text TEXT NOT NULL,
  config_version INTEGER,
  -- Why the text may not be the one the visitor saw (e.g. 'version_unknown').
  note TEXT,
  given_at INTEGER NOT NULL,
  given_ip TEXT NOT NULL,
  given_ua TEXT NOT NULL,
  confirmed_at INTEGER,
  confirmed_ip TEXT,
  confirmed_ua TEXT,
  withdrawn_at INTEGER
);
CREATE UNIQUE INDEX consents_active ON consents (lead_id, kind) WHERE status <> 'withdrawn';
CREATE INDEX consents_lead ON consents (lead_id, kind);

-- What happened to a lead, in order (status history; later also the webhook outbox).
-- Written in the same batch as the change it describes.
CREATE TABLE lead_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  lead_id TEXT NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
  type TEXT NOT NULL,
  at INTEGER NOT NULL,
  detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX lead_events_lead ON lead_events (lead_id, id);

-- Erased mailboxes (keyed hash only, never an address): nobody can put them back.
CREATE TABLE suppression (
  mailbox TEXT PRIMARY KEY,
  at INTEGER NOT NULL,
  by TEXT NOT NULL CHECK (by IN ('ops', 'visitor'))
);

-- Once-only mail sends: a send is claimed here before it goes out. `ref` tells sends of
-- one kind apart: the webinar start for reminders, a request slot for confirmations.
CREATE TABLE mail_sends (
  lead_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  ref TEXT NOT NULL,
  claimed_at INTEGER NOT NULL,
  claim_until INTEGER NOT NULL,
  sent_at INTEGER,
  PRIMARY KEY (lead_id, kind, ref)
);
CREATE INDEX mail_sends_kind_claimed ON mail_sends (kind, claimed_at);

-- Reminder fan-out runs: one row per (mail kind, webinar start), with a lease.
CREATE TABLE fanouts (
  kind TEXT NOT NULL,
  start_ms INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'done')),
  lease_until INTEGER NOT NULL,
  enqueued INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (kind, start_ms)
);

-- Admin audit log: who did what, never a lead's address or a secret.
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  role TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);

-- Giveaway draws. UNIQUE (series_id, seq): exactly one first draw per webinar, and each
-- redraw follows exactly one earlier draw. Winners are lead ids only.
CREATE TABLE draws (
  id TEXT PRIMARY KEY,
  series_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  at INTEGER NOT NULL,
  by TEXT NOT NULL,
  deadline TEXT NOT NULL,
  winners_requested INTEGER NOT NULL,
  eligible_count INTEGER NOT NULL,
  eligible_hash TEXT NOT NULL,
  winners TEXT NOT NULL,
  redraw_reason TEXT,
  replaces TEXT,
  UNIQUE (series_id, seq)
);

-- Mail jobs that failed their last attempt, for ops to see and send again.
CREATE TABLE dead_letters (
  key TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  lead_id TEXT,
  reason TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  failed_at INTEGER NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX dead_letters_failed ON dead_letters (failed_at);
CREATE INDEX dead_letters_lead ON dead_letters (lead_id);

-- Local development only (DEV_OUTBOX, never in production): every sent mail.
CREATE TABLE dev_outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  sent_at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  recipient TEXT NOT NULL,
  subject TEXT NOT NULL,
  text TEXT NOT NULL,
  html TEXT NOT NULL,
  headers TEXT NOT NULL,
  attachments TEXT NOT NULL
);

-- The live config version: a compare-and-swap here decides concurrent publishes; KV's
-- `config:current` mirrors it for edge reads.
CREATE TABLE config_pointer (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
