-- Abuse defences (docs/decisions/090-bot-defences.md): spent proof-of-work solutions,
-- exact mail budgets, refusal counts per hour and the attack-mode switch.

-- ALTCHA solutions already used: a plain INSERT in the registration's own batch, so a
-- replay fails the whole batch and stores nothing. Rows are deleted after they expire.
CREATE TABLE challenge_spent (
  signature TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
);
CREATE INDEX challenge_spent_expires ON challenge_spent (expires_at);

-- Mail budgets count confirmation sends per canonical mailbox and per recipient domain.
ALTER TABLE mail_sends ADD COLUMN mailbox TEXT;
ALTER TABLE mail_sends ADD COLUMN domain TEXT;
CREATE INDEX mail_sends_mailbox ON mail_sends (mailbox, kind, claimed_at);
CREATE INDEX mail_sends_domain ON mail_sends (domain, kind, claimed_at);

-- Per minute (ms of the minute's start) and reason: accepted registrations, refusals by
-- reason, confirmation mails sent and paced. The dashboard sums them per hour; attack
-- mode looks at the last 10 minutes. Counters only, nothing personal.
CREATE TABLE abuse_counts (
  minute INTEGER NOT NULL,
  reason TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (minute, reason)
);

-- Small operational switches (e.g. attack mode), one JSON value per key.
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
