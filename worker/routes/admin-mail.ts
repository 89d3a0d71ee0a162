/**
 * Ops routes for mail delivery (role `ops`, worker/auth.ts):
 *
 *   GET  /api/admin/mail/dead-letters        failed mail jobs with their reason, latest failure
 *                                            first (?cursor= for the next page)
 *   POST /api/admin/mail/dead-letters/retry  `{ key }`: put the job back on the queue
 *   GET  /api/admin/dev/outbox[?limit=1..200] local development only (DEV_OUTBOX="1" in
 *                                            .dev.vars): `{ mails }`, newest first, each with
 *                                            every link it holds
 *
 * Dead letters and the outbox live in D1 (worker/mail/dead-letters.ts, worker/mail/outbox.ts).
 *
 * A retried job still goes through the consumer's once-only check, so retrying a job whose
 * mail did go out after all sends nothing twice.
 */
import { Hono } from 'hono';
import { limitBody } from '../body-limit';
import * as v from 'valibot';
import { appendAudit } from '../audit-log';
import { requireRole, type AdminEnv } from '../auth';
import { errorMessage, log } from '../log';
import { DEAD_LETTER_KEY, deleteDeadLetter, getDeadLetter, listDeadLetters } from '../mail/dead-letters';
import { describeIssues, QueueJob } from '../mail/jobs';
import { listOutbox, OUTBOX_MAX_LIMIT, outboxEnabled } from '../mail/outbox';
import { enqueueJob } from '../mail/producer';

const RetryRequest = v.object({
  key: v.pipe(
    v.string('Bitte geben Sie den Schlüssel des Auftrags an.'),
    v.regex(DEAD_LETTER_KEY, 'Der Schlüssel ist kein Auftrag der Fehlerliste.'),
  ),
});

const LIMIT_MESSAGE = `Der Wert für limit muss eine ganze Zahl zwischen 1 und ${OUTBOX_MAX_LIMIT} sein.`;
const OutboxQuery = v.object({
  limit: v.optional(
    v.pipe(
      v.string(LIMIT_MESSAGE),
      v.regex(/^\d{1,4}$/, LIMIT_MESSAGE),
      v.transform(Number),
      v.minValue(1, LIMIT_MESSAGE),
      v.maxValue(OUTBOX_MAX_LIMIT, LIMIT_MESSAGE),
    ),
    '50',
  ),
});

const ListQuery = v.object({
  cursor: v.optional(v.pipe(v.string(), v.maxLength(200, 'Ungültiger Cursor.'))),
});

const MESSAGES = {
  badJson: 'Die Anfrage enthält kein gültiges JSON.',
  notFound: 'Diesen Auftrag gibt es in der Fehlerliste nicht (mehr).',
  invalidJob: 'Dieser Auftrag ist ungültig und kann nicht erneut gesendet werden',
  queueDown: 'Die Warteschlange ist gerade nicht erreichbar. Bitte versuchen Sie es gleich noch einmal.',
  storeDown: 'Der Speicher ist gerade nicht erreichbar. Bitte versuchen Sie es gleich noch einmal.',
  outboxOff: 'Der lokale Postausgang ist nur in der Entwicklung eingeschaltet (DEV_OUTBOX="1" in .dev.vars).',
} as const;

export const adminMailRoutes = new Hono<AdminEnv>()
  .get('/api/admin/mail/dead-letters', requireRole('ops'), async (c) => {
    const query = v.safeParse(ListQuery, c.req.query());
    if (!query.success) return c.json({ ok: false as const, error: query.issues[0].message }, 400);
    try {
      const page = await listDeadLetters(c.env.DB, query.output.cursor);
      return c.json({ ok: true as const, ...page });
    } catch (error) {
      log.error('admin_mail.list_failed', { message: errorMessage(error) });
      return c.json({ ok: false as const, error: MESSAGES.storeDown }, 503);
    }
  })
  .post(
    '/api/admin/mail/dead-letters/retry',
    requireRole('ops'),
    limitBody({
      maxSize: 2048,
      onError: (c) => c.json({ ok: false as const, error: 'Die Anfrage ist zu groß.' }, 413),
    }),
    async (c) => {
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        return c.json({ ok: false as const, error: MESSAGES.badJson }, 400);
      }
      const req = v.safeParse(RetryRequest, body);
      if (!req.success) return c.json({ ok: false as const, error: describeIssues(req.issues) }, 400);
      const key = req.output.key;
      let entry;
      try {
        entry = await getDeadLetter(c.env.DB, key);
      } catch (error) {
        log.error('admin_mail.read_failed', { message: errorMessage(error) });
        return c.json({ ok: false as const, error: MESSAGES.storeDown }, 503);
      }
      if (!entry) return c.json({ ok: false as const, error: MESSAGES.notFound }, 404);
      const job = v.safeParse(QueueJob, entry.body);
      if (!job.success)
        return c.json(
          { ok: false as const, error: `${MESSAGES.invalidJob}: ${describeIssues(job.issues)}` },
          422,
        );
      try {
        await enqueueJob(c.env.MAIL_QUEUE, job.output);
      } catch (error) {
        log.error('admin_mail.retry_enqueue_failed', { message: errorMessage(error) });
        return c.json({ ok: false as const, error: MESSAGES.queueDown }, 503);
      }
      // Enqueued first, deleted second: a failure in between leaves a stale entry, never a lost job.
      await deleteDeadLetter(c.env.DB, key).catch((error) =>
        log.error('admin_mail.delete_failed', { message: errorMessage(error) }),
      );
      const who = c.get('identity');
      await appendAudit(c.env.DB, {
        role: who.role,
        id: who.id,
        action: 'mail.retried',
        detail: { kind: job.output.kind, type: job.output.type },
      });
      return c.json({ ok: true as const, requeued: key });
    },
  )
  .get('/api/admin/dev/outbox', requireRole('ops'), async (c) => {
    if (!outboxEnabled(c.env)) return c.json({ ok: false as const, error: MESSAGES.outboxOff }, 404);
    const query = v.safeParse(OutboxQuery, c.req.query());
    if (!query.success) return c.json({ ok: false as const, error: query.issues[0].message }, 400);
    return c.json({ ok: true as const, mails: await listOutbox(c.env.DB, query.output.limit) });
  });
