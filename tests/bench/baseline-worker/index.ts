/**
 * The load benchmark's baseline (tests/bench/load.mjs): a bare Hono worker served by the
 * same `vite preview` + workerd stack as the real app.
 *
 *   POST /api/register          parses the JSON body, answers 201: no validation, no
 *                               hashing, no storage, no rate limit
 *   POST /api/register-io?steps=limit,batch,queue,log
 *                               the same plus the binding calls a registration makes (the
 *                               steps listed, in that order: limiter, one D1 batch of the
 *                               registration's statements, one queue send, one log line),
 *                               without any of our code, to split the app's cost into
 *                               simulated I/O and our own work
 *   GET  /api/register-io/sql   the batch's statements, so the bench can check that they
 *                               are still the app's (worker/store/lead-store.ts)
 *   GET  /                      a constant HTML string about the size of the real page
 */
import { Hono } from 'hono';
// The webhook event's statement is generated from its payload; the app's own builder
// gives its text (SQL only, none of the registration's code).
import { eventStatements } from '../../../worker/webhooks/outbox';

interface Bindings {
  DB: D1Database;
  LIMITER: RateLimit;
  QUEUE: Queue;
}

const PAGE = `<!doctype html><html lang="de"><head><meta charset="utf-8"><title>Baseline</title></head><body>${'<p>Finanzielle Selbstverteidigung: So retten Sie Ihr Vermögen.</p>'.repeat(600)}</body></html>`;

// The statements of registerLead's batch with the challenge spend first, word for word (the
// bench compares them with the ones it counts at the app's D1 binding).
const INSERT_LEAD = `INSERT INTO leads (id, mailbox, email, first_name, status, phase, created_at, updated_at,
  config_version, utm_source, utm_medium, utm_campaign, utm_term, utm_content, referrer, landing_path)
  SELECT ?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14
  WHERE NOT EXISTS (SELECT 1 FROM suppression WHERE mailbox IN (?2, ?15))
  ON CONFLICT (id) DO NOTHING
  RETURNING id`;
const INSERT_EVENT = `INSERT INTO lead_events (lead_id, type, at)
  SELECT ?1, 'registered', ?2 WHERE EXISTS (SELECT 1 FROM leads WHERE id = ?1)
  AND NOT EXISTS (SELECT 1 FROM lead_events WHERE lead_id = ?1 AND type = 'registered')`;
const EXPIRE_PENDING = `UPDATE consents SET status = 'withdrawn', withdrawn_at = ?2, note = 'expired_unconfirmed'
  WHERE lead_id = ?1 AND status = 'pending' AND given_at < ?2 - ?3`;
const INSERT_CONSENT = `INSERT OR IGNORE INTO consents (lead_id, kind, status, text_version, text, config_version, note,
  given_at, given_ip, given_ua)
  SELECT ?1, ?2, 'pending', ?3, ?4, ?5, ?6, ?7, ?8, ?9
  WHERE EXISTS (SELECT 1 FROM leads WHERE id = ?1)
  AND NOT EXISTS (SELECT 1 FROM suppression WHERE mailbox IN (?10, ?11))
  RETURNING kind`;
const SPEND = 'INSERT INTO challenge_spent (signature, expires_at) VALUES (?1, ?2)';
const COUNT_ACCEPTED = `INSERT INTO abuse_counts (minute, reason, n) VALUES (?1, 'accepted', 1)
  ON CONFLICT (minute, reason) DO UPDATE SET n = n + 1`;
const SELECT_STATE = `SELECT l.status AS status,
  (SELECT COUNT(*) FROM consents WHERE lead_id = l.id AND status = 'pending') AS pending,
         (SELECT MAX(given_at) FROM consents WHERE lead_id = l.id AND status = 'pending') AS last_asked,
  (SELECT MAX(claimed_at) FROM mail_sends WHERE lead_id = l.id AND kind = 'confirm') AS last_confirm,
  (SELECT MAX(claimed_at) FROM mail_sends WHERE lead_id = l.id AND kind = 'welcome') AS last_welcome
  FROM leads l WHERE l.id = ?1`;

const TEXT =
  'Ich habe die Datenschutzhinweise gelesen und bin mit der Verarbeitung meiner Daten einverstanden.';

/** The batch of a registration with the privacy consent and, if asked, the newsletter's. */
function registrationBatch(db: D1Database, email: string, newsletter: boolean, ip: string) {
  // No HMAC here: the address itself is the key (each bench request has a new one).
  const id = `b:${email}`;
  const now = Date.now();
  const kinds = newsletter ? ['privacy', 'newsletter'] : ['privacy'];
  return [
    db.prepare(SPEND).bind(`sig:${email}`, now + 600_000),
    db
      .prepare(INSERT_LEAD)
      .bind(id, id, email, 'Last', 'before', now, null, null, null, null, null, null, null, '/', `l:${id}`),
    db.prepare(INSERT_EVENT).bind(id, now),
    db.prepare(EXPIRE_PENDING).bind(id, now, 7 * 86_400_000),
    ...kinds.map((kind) =>
      db.prepare(INSERT_CONSENT).bind(id, kind, 'v1', TEXT, null, null, now, ip, 'autocannon', id, `l:${id}`),
    ),
    db.prepare(COUNT_ACCEPTED).bind(now - (now % 60_000)),
    ...eventStatements(db, 'lead.registered', id, now),
    db.prepare(SELECT_STATE).bind(id),
  ];
}

const app = new Hono<{ Bindings: Bindings }>()
  .post('/api/register', async (c) => {
    const body = await c.req.json<unknown>();
    return c.json({ ok: true, received: typeof body }, 201);
  })
  .post('/api/register-io', async (c) => {
    const body = await c.req.json<{ email?: string; newsletter?: boolean }>();
    const steps = new Set((c.req.query('steps') ?? '').split(','));
    const ip = c.req.header('cf-connecting-ip') ?? 'x';
    if (steps.has('limit')) await c.env.LIMITER.limit({ key: ip });
    if (steps.has('batch'))
      await c.env.DB.batch(registrationBatch(c.env.DB, String(body.email), body.newsletter === true, ip));
    if (steps.has('queue'))
      await c.env.QUEUE.send({ type: 'mail', kind: 'confirm', leadId: String(body.email), ref: 'new' });
    // One structured log line per request, as the app writes (`register.stored`).
    if (steps.has('log')) console.info(JSON.stringify({ level: 'info', event: 'bench.stored' }));
    return c.json({ ok: true }, 201);
  })
  .get('/api/register-io/sql', (c) => {
    // The batch of a registration with the newsletter, built on a stand-in that keeps each
    // statement's text.
    const texts = { prepare: (sql: string) => ({ bind: () => sql }) } as unknown as D1Database;
    const sql = registrationBatch(texts, 'x@beispiel.de', true, 'x') as unknown as string[];
    return c.json(sql.map((s) => s.replace(/\s+/g, ' ').trim()));
  })
  .get('/', (c) => c.html(PAGE));

export default app;
