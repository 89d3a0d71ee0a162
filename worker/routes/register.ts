/**
 * POST /api/register: the visitor's registration, from the enhanced form (JSON) or a
 * plain form post without JavaScript (urlencoded: 303 to /danke, or the page again with
 * the visitor's input and German messages).
 *
 * Order matters: type and declared size are checked before the body is read, the rate
 * limit before any work, the body is read with a size limit and a deadline (413, 408),
 * validation comes before any storage. Every answer to a valid address is the
 * same, whether it was new, known, or suppressed.
 */
import { Hono, type Context } from 'hono';
import { BODY_TIMEOUT_MS, declaredTooLarge, readBody } from '../body-limit';
import { HONEYPOT_FIELD, validateRegistration, type FieldErrors } from '../../src/lib/registration';
import { phaseAt, scheduleOf } from '../../src/lib/schedule';
import type { FormValues } from '../../src/components/registration-form';
import { getLiveConfig } from '../config-store';
import { registerLead } from '../store/lead-store';
import { requestMail } from '../mail/requests';
import { errorMessage, log } from '../log';
import { loadShell, renderLanding } from '../render';
import { checkSolution, isReplay, spendStatement } from '../abuse/challenge';
import { count, type RefusalReason } from '../abuse/counters';
import { attackMode, evaluateAttackMode } from '../abuse/attack-mode';
import { answerFits, checkStamp, plainFormSlots } from '../abuse/form-stamp';
import { clientIp, clientKey, landingPath, mailLinkOrigin, userAgent } from '../request-context';

export const MAX_BODY_BYTES = 8 * 1024;
const RETRY_AFTER_BUSY_S = 5;
const RETRY_AFTER_LIMIT_S = 60;
/** A D1 call that has not answered by then is treated as failed (the visitor retries). */
export const STORE_TIMEOUT_MS = 4_000;

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

type Kind = 'json' | 'form';

const MESSAGES = {
  contentType:
    'Nicht unterstützter Inhaltstyp. Bitte senden Sie application/json oder application/x-www-form-urlencoded.',
  tooLarge: 'Die Anfrage ist zu groß.',
  tooSlow: 'Die Anfrage kam zu langsam an. Bitte senden Sie das Formular erneut.',
  badJson: 'Die Anfrage enthält kein gültiges JSON.',
  tooMany:
    'Zu viele Anmeldeversuche in kurzer Zeit. Bitte warten Sie eine Minute und versuchen Sie es dann erneut.',
  busy: 'Ihre Anmeldung konnte gerade nicht gespeichert werden. Ihre Angaben sind erhalten – bitte senden Sie das Formular in einigen Sekunden erneut.',
  challenge:
    'Ihre Anmeldung konnte nicht automatisch geprüft werden. Bitte laden Sie die Seite neu und senden Sie das Formular noch einmal ab.',
  again: 'Bitte senden Sie das Formular noch einmal ab.',
  question:
    'Bitte beantworten Sie noch die Kontrollfrage über dem Absenden-Knopf und senden Sie das Formular noch einmal ab.',
} as const;

/** Counts a refusal without making the answer wait (worker/abuse/counters.ts). */
function refused(c: Context<{ Bindings: Env }>, reason: RefusalReason) {
  const work = count(c.env.DB, `refused:${reason}`, Date.now(), 1, async () => {
    await evaluateAttackMode(c.env.DB, c.env);
  });
  try {
    c.executionCtx.waitUntil(work);
  } catch {
    // No execution context (app.request in tests): the count still lands, unawaited.
  }
}

function kindOf(c: Context): Kind | null {
  const type = (c.req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'application/json') return 'json';
  if (type === 'application/x-www-form-urlencoded') return 'form';
  return null;
}

/** urlencoded body → plain object; a repeated name keeps its first value. */
function formToObject(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(text)) if (!(k in out)) out[k] = v;
  return out;
}

/** What the visitor typed, to put back into the re-rendered form. */
function valuesOf(input: Record<string, unknown>): FormValues {
  const str = (v: unknown) => (typeof v === 'string' ? v.slice(0, 254) : undefined);
  const on = (v: unknown) => v === true || v === 'on' || v === 'true';
  return {
    email: str(input.email),
    firstName: str(input.firstName),
    privacy: on(input.privacy),
    giveaway: on(input.giveaway),
    newsletter: on(input.newsletter),
  };
}

async function answerError(
  c: Context<{ Bindings: Env }>,
  kind: Kind,
  status: 400 | 403 | 408 | 413 | 429 | 503,
  errors: FieldErrors,
  input: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  for (const [k, v] of Object.entries(headers)) c.header(k, v);
  c.header('Cache-Control', 'no-store');
  if (kind === 'json') return c.json({ ok: false as const, errors }, status);
  const live = await getLiveConfig(c.env.CONTENT);
  const shell = await loadShell(c.env.ASSETS, new URL(c.req.url).origin, c.env.ENVIRONMENT === 'development');
  const now = Date.now();
  const form = await plainFormSlots(c.env.LEAD_KEY_SECRET, (await attackMode(c.env.DB, now)).on, now);
  return c.html(renderLanding(shell, live, now, { values: valuesOf(input), errors }, form), status);
}

export const registerRoutes = new Hono<{ Bindings: Env }>().post('/api/register', async (c) => {
  const kind = kindOf(c);
  c.header('Cache-Control', 'no-store');
  if (!kind) return c.json({ ok: false as const, errors: { form: MESSAGES.contentType } }, 415);
  const tooLarge = () => c.json({ ok: false as const, errors: { form: MESSAGES.tooLarge } }, 413);
  // A declared size over the limit is refused before anything is read or counted.
  if (declaredTooLarge(c.req.raw, MAX_BODY_BYTES)) return tooLarge();
  const ip = clientIp(c);

  try {
    const { success } = await c.env.REGISTER_LIMITER.limit({ key: clientKey(ip) });
    if (!success) refused(c, 'rate_limit');
    if (!success)
      return answerError(
        c,
        kind,
        429,
        { form: MESSAGES.tooMany },
        {},
        { 'Retry-After': String(RETRY_AFTER_LIMIT_S) },
      );
  } catch (error) {
    // Fail open: a broken limiter must not turn visitors away. Validation still applies.
    log.error('register.ratelimit_failed', { message: errorMessage(error) });
  }

  let input: Record<string, unknown>;
  const bytes = await readBody(c.req.raw, MAX_BODY_BYTES, BODY_TIMEOUT_MS);
  if (bytes === 413) return tooLarge();
  if (bytes === 408) {
    log.warn('register.body_timeout');
    return answerError(c, kind, 408, { form: MESSAGES.tooSlow }, {});
  }
  // UTF-8; invalid bytes become U+FFFD, as `Request.text()` does.
  const text = new TextDecoder().decode(bytes);
  if (kind === 'json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return answerError(c, kind, 400, { form: MESSAGES.badJson }, {});
    }
    input =
      parsed && typeof parsed === 'object' && !Array.isArray(parsed)
        ? (parsed as Record<string, unknown>)
        : {};
    if (input !== parsed) return answerError(c, kind, 400, { form: MESSAGES.badJson }, {});
  } else {
    input = formToObject(text);
  }

  const ok = () => {
    c.header('Cache-Control', 'no-store');
    return kind === 'json' ? c.json({ ok: true as const }, 200) : c.redirect('/danke', 303);
  };

  const referer = landingPath(c);
  // Without JavaScript the form cannot copy UTM parameters; the page's URL has them.
  for (const k of ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content']) {
    const fromPage = referer.search?.get(k);
    if (input[k] === undefined && fromPage) input[k] = fromPage.trim().slice(0, 200);
  }
  // The enhanced form proves work (ALTCHA); a post straight to the API without it stores nothing.
  let spend: ReturnType<typeof spendStatement> | undefined;
  if (kind === 'json') {
    const solution = await checkSolution(c.env.LEAD_KEY_SECRET, input.altcha);
    if (!solution.ok) {
      log.info('register.challenge_refused', { reason: solution.reason });
      refused(c, 'challenge');
      return answerError(c, kind, 403, { form: MESSAGES.challenge }, {});
    }
    spend = spendStatement(c.env.DB, solution);
  } else {
    // The plain form proves it was rendered by us and read for a few seconds; in attack
    // mode its visitor also answers a question. Nothing is stored otherwise.
    const stamp = await checkStamp(c.env.LEAD_KEY_SECRET, input.renderedAt, Date.now());
    const versioned = typeof input.configVersion === 'string' && /^\d{1,9}$/.test(input.configVersion);
    if (!stamp.ok || !versioned) {
      refused(c, stamp.ok ? 'form_fields' : stamp.reason === 'too_fast' ? 'too_fast' : 'form_fields');
      return answerError(c, kind, 400, { form: MESSAGES.again }, input);
    }
    if (
      (await attackMode(c.env.DB)).on &&
      (stamp.question === null || !answerFits(stamp.question, input.answer))
    ) {
      refused(c, 'question');
      return answerError(c, kind, 400, { form: MESSAGES.question }, input);
    }
  }
  const checked = validateRegistration(input);
  if (typeof input[HONEYPOT_FIELD] === 'string' && input[HONEYPOT_FIELD] !== '') {
    // A bot: answer as if it worked, so it learns nothing; store nothing.
    log.info('register.honeypot');
    refused(c, 'honeypot');
    return ok();
  }
  if (!checked.ok) return answerError(c, kind, 400, checked.errors, input);

  const registration = checked.value;
  const live = await getLiveConfig(c.env.CONTENT);
  const now = new Date();

  try {
    const form = live.config.form;
    const stored = registerLead(
      c.env.DB,
      c.env.LEAD_KEY_SECRET,
      registration,
      {
        now,
        phase: phaseAt(scheduleOf(live.config.webinar), now.getTime()),
        texts: {
          version: form.consentVersion,
          privacy: form.privacyLabel,
          giveaway: form.giveawayLabel,
          newsletter: form.newsletterLabel,
          configVersion: live.version > 0 ? live.version : null,
        },
        ip,
        userAgent: userAgent(c),
        landingPath: referer.path,
        giveawayOpen: now.getTime() < Date.parse(live.config.giveaway.deadline),
      },
      spend ? [spend] : [],
    );
    // A late write after the timeout is harmless: the visitor's retry is an idempotent repeat.
    const { id, outcome, mail } = await withTimeout(stored, STORE_TIMEOUT_MS);
    log.info('register.stored', { outcome });
    // Double opt-in: queue the mail without making the visitor wait; a failed enqueue of a
    // first confirmation is caught up by the hourly sweep (worker/reminders.ts).
    if (mail) {
      const pendingMail = requestMail(c.env.MAIL_QUEUE, mail.kind, id, {
        ref: mail.ref,
        origin: mailLinkOrigin(c),
        now,
      });
      try {
        c.executionCtx.waitUntil(pendingMail);
      } catch {
        await pendingMail; // no execution context (app.request in tests)
      }
    }
  } catch (error) {
    if (isReplay(error)) {
      log.info('register.challenge_refused', { reason: 'replayed' });
      refused(c, 'challenge');
      return answerError(c, kind, 403, { form: MESSAGES.challenge }, {});
    }
    log.error('register.store_failed', { message: errorMessage(error) });
    return answerError(c, kind, 503, { form: MESSAGES.busy }, input, {
      'Retry-After': String(RETRY_AFTER_BUSY_S),
    });
  }
  return ok();
});

export type RegisterResponse = { ok: true } | { ok: false; errors: FieldErrors };
