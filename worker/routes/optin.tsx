/**
 * Visitor routes behind the links in our mails (signed tokens, worker/tokens.ts):
 *
 *   GET  /bestaetigen?t=…   page with a button (mail scanners that prefetch links confirm nothing)
 *   POST /bestaetigen       t in the form: confirms, records proof, queues the welcome mail
 *   GET  /abmelden?t=…      page with a button
 *   POST /abmelden[?t=…]    unsubscribes; also the RFC 8058 one-click POST a mail client sends
 *                           to the List-Unsubscribe URL (body `List-Unsubscribe=One-Click`)
 *   GET  /loeschen?t=…      page with a button
 *   POST /loeschen          erases the lead and every spelling of its mailbox (suppression kept)
 *
 * A confirm link confirms every consent given up to the time its mail was asked for; a
 * second click, or the same link on another device, finds nothing left and shows the same
 * success page, and only the first one asks for the welcome mail (worker/store/lead-store.ts).
 *
 * A malformed, forged, expired, reused or foreign token gets a clear German page and
 * changes nothing; nothing here answers 500 for bad input.
 */
import { Hono, type Context } from 'hono';
import { limitBody, SLOW_BODY_MESSAGE } from '../body-limit';
import { calendarLinks } from '../../src/lib/calendar';
import { formatGermanDateTime, phaseAt, scheduleOf } from '../../src/lib/schedule';
import type { WebinarConfig } from '../../src/lib/webinar-config';
import { SimplePage } from '../../src/components/page';
import { CalendarButtons } from '../../src/components/thank-you';
import { getLiveConfig } from '../config-store';
import {
  confirmLead,
  eraseLeadById,
  getLead,
  unsubscribeLead,
  type ConsentKind,
  type Lead,
} from '../store/lead-store';
import { errorMessage, log } from '../log';
import { requestMail } from '../mail/requests';
import { loadShell, renderSimple } from '../render';
import { clientIp, mailLinkOrigin, userAgent } from '../request-context';
import { TOKEN_TTL_S, tokenMatchesLead, verifyToken, type TokenClaims, type TokenPurpose } from '../tokens';

type Ctx = Context<{ Bindings: Env }>;
type Status = 200 | 400 | 404 | 410 | 415 | 503;

const PATHS: Record<TokenPurpose, string> = {
  confirm: '/bestaetigen',
  unsubscribe: '/abmelden',
  erase: '/loeschen',
};

const AGAIN =
  'Sie können sich jederzeit erneut auf der Webinar-Seite anmelden; Sie erhalten dann eine neue E-Mail.';

/** German texts for every way a link can fail. */
const FAILURES = {
  malformed: {
    heading: 'Dieser Link ist unvollständig',
    text: 'Der Link konnte nicht gelesen werden. Bitte öffnen Sie ihn direkt aus der E-Mail oder kopieren Sie ihn vollständig in die Adresszeile Ihres Browsers.',
    status: 400,
  },
  signature: {
    heading: 'Dieser Link ist ungültig',
    text: 'Der Link wurde nicht von uns ausgestellt oder beim Kopieren verändert. Bitte öffnen Sie ihn direkt aus der E-Mail.',
    status: 400,
  },
  purpose: {
    heading: 'Dieser Link passt nicht zu dieser Seite',
    text: 'Bitte verwenden Sie den Link aus der E-Mail genau so, wie er dort steht.',
    status: 400,
  },
  expired: {
    heading: 'Dieser Link ist abgelaufen',
    text: `Aus Sicherheitsgründen gilt ein Link nur eine begrenzte Zeit. Es wurde nichts geändert. ${AGAIN}`,
    status: 410,
  },
  missing: {
    heading: 'Diese Anmeldung gibt es nicht mehr',
    text: `Zu diesem Link ist keine Anmeldung (mehr) gespeichert, zum Beispiel weil sie gelöscht wurde. ${AGAIN}`,
    status: 404,
  },
} as const satisfies Record<string, { heading: string; text: string; status: Status }>;

const BUSY = {
  heading: 'Bitte versuchen Sie es gleich noch einmal',
  text: 'Ihre Anfrage konnte gerade nicht gespeichert werden; es wurde nichts geändert. Bitte versuchen Sie es in einigen Sekunden erneut.',
};

async function page(
  c: Ctx,
  config: WebinarConfig,
  heading: string,
  body: () => unknown,
  status: Status = 200,
) {
  const shell = await loadShell(c.env.ASSETS, new URL(c.req.url).origin, c.env.ENVIRONMENT === 'development');
  c.header('Cache-Control', 'no-store');
  // The token is in the URL; the site-wide Referrer-Policy (strict-origin-when-cross-origin)
  // already keeps it from the calendar sites, which see only our origin.
  return c.html(
    renderSimple(shell, config, {
      title: `${heading} – ${config.seo.title}`,
      path: new URL(c.req.url).pathname,
      noindex: true,
      body: () => (
        <SimplePage config={config} heading={heading}>
          {body() as never}
        </SimplePage>
      ),
    }),
    status,
  );
}

function textPage(c: Ctx, config: WebinarConfig, t: { heading: string; text: string }, status: Status = 200) {
  return page(
    c,
    config,
    t.heading,
    () => (
      <>
        <p>{t.text}</p>
        <p>
          <a href="/">Zur Webinar-Seite</a>
        </p>
      </>
    ),
    status,
  );
}

/** The form behind every button: a POST to the same path with the token in a hidden field. */
function ActionForm(props: { path: string; token: string; label: string }) {
  return (
    <form method="post" action={props.path}>
      <input type="hidden" name="t" value={props.token} />
      <button type="submit" class="cta">
        {props.label}
      </button>
    </form>
  );
}

type Resolved =
  | { ok: true; lead: Lead; token: string; claims: TokenClaims }
  | { ok: false; response: Response | Promise<Response> };

/** German names of what a confirmation covers. */
const CONSENT_NAMES: Record<ConsentKind, string> = {
  privacy: 'Ihre Anmeldung zum Webinar',
  giveaway: 'Ihre Teilnahme am Gewinnspiel',
  newsletter: 'Ihr Newsletter-Abonnement',
};

const pendingKinds = (lead: Lead) => lead.consents.filter((c) => c.status === 'pending').map((c) => c.kind);

/** Slack for the token's whole-second issue time against the consents' ms times. */
const ISSUE_SLACK_MS = 1000;

/** Token → lead, or the page that explains why not. */
async function resolve(
  c: Ctx,
  config: WebinarConfig,
  purpose: TokenPurpose,
  token: unknown,
): Promise<Resolved> {
  const check = await verifyToken(c.env.MAIL_TOKEN_SECRET, token, purpose);
  if (!check.ok) {
    log.info('optin.token_refused', { purpose, reason: check.reason });
    const f = FAILURES[check.reason];
    return { ok: false, response: textPage(c, config, f, f.status) };
  }
  let lead: Lead | null;
  try {
    lead = await getLead(c.env.DB, check.claims.leadId);
  } catch (error) {
    log.error('optin.read_failed', { message: errorMessage(error) });
    c.header('Retry-After', '5');
    return { ok: false, response: textPage(c, config, BUSY, 503) };
  }
  if (!lead || !tokenMatchesLead(check.claims, lead)) {
    log.info('optin.token_refused', { purpose, reason: lead ? 'other_registration' : 'missing' });
    return { ok: false, response: textPage(c, config, FAILURES.missing, 404) };
  }
  return { ok: true, lead, token: token as string, claims: check.claims };
}

/** The token from a form post (or, for one-click unsubscribe, from the query string). */
async function postedToken(c: Ctx): Promise<unknown> {
  const type = (c.req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') {
    const t = new URLSearchParams(await c.req.text()).get('t');
    if (t !== null) return t;
  } else if (type === 'multipart/form-data') {
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    if (typeof form.t === 'string') return form.t;
  }
  return c.req.query('t');
}

function Calendar(props: { config: WebinarConfig }) {
  const after = phaseAt(scheduleOf(props.config.webinar), Date.now()) === 'after';
  return <CalendarButtons links={after ? null : calendarLinks(props.config)} />;
}

const limit = limitBody({
  maxSize: 4 * 1024,
  onError: (c) => c.text('Die Anfrage ist zu groß.', 413),
  onTimeout: (c) => c.text(SLOW_BODY_MESSAGE, 408),
});

export const optinRoutes = new Hono<{ Bindings: Env }>()
  // --- confirm ---
  .get(PATHS.confirm, async (c) => {
    const { config } = await getLiveConfig(c.env.CONTENT);
    const r = await resolve(c, config, 'confirm', c.req.query('t'));
    if (!r.ok) return r.response;
    const pending = pendingKinds(r.lead);
    if (!pending.length && r.lead.status === 'confirmed') return alreadyConfirmed(c, config);
    if (!pending.length) return unsubscribedPage(c, config, true);
    const { startMs } = scheduleOf(config.webinar);
    return page(c, config, 'Anmeldung bestätigen', () => (
      <>
        <p>
          Bitte bestätigen Sie Ihre Anmeldung zum Webinar „{config.webinar.title}“ am{' '}
          {formatGermanDateTime(startMs)}.
        </p>
        <p>Mit dem Klick bestätigen Sie:</p>
        <ul>
          {pending.map((k) => (
            <li>{CONSENT_NAMES[k]}</li>
          ))}
        </ul>
        <ActionForm path={PATHS.confirm} token={r.token} label="Anmeldung jetzt bestätigen" />
        <p>
          Wenn Sie sich nicht angemeldet haben, schließen Sie diese Seite einfach. Es passiert dann nichts.
        </p>
      </>
    ));
  })
  .post(PATHS.confirm, limit, async (c) => {
    const { config } = await getLiveConfig(c.env.CONTENT);
    const r = await resolve(c, config, 'confirm', await postedToken(c));
    if (!r.ok) return r.response;
    let result;
    const atMs = Date.now();
    try {
      const issuedMs = (r.claims.expS - TOKEN_TTL_S.confirm) * 1000;
      result = await confirmLead(
        c.env.DB,
        r.lead.id,
        { atMs, ip: clientIp(c), userAgent: userAgent(c) },
        issuedMs + ISSUE_SLACK_MS,
      );
    } catch (error) {
      log.error('optin.confirm_failed', { message: errorMessage(error) });
      c.header('Retry-After', '5');
      return textPage(c, config, BUSY, 503);
    }
    if (result.outcome === 'missing') return textPage(c, config, FAILURES.missing, 404);
    // Nothing was left to confirm: an earlier click did it, unless the person has since
    // unsubscribed (then this old link must not sign them up again).
    if (result.outcome === 'already' && r.lead.status === 'unsubscribed' && !pendingKinds(r.lead).length)
      return unsubscribedPage(c, config, true);
    log.info('optin.confirmed', { outcome: result.outcome });
    if (result.outcome === 'confirmed') {
      const welcome = requestMail(c.env.MAIL_QUEUE, 'welcome', r.lead.id, {
        ref: result.welcomeRef,
        origin: mailLinkOrigin(c),
        now: new Date(atMs),
      });
      try {
        c.executionCtx.waitUntil(welcome);
      } catch {
        await welcome;
      }
    }
    return page(c, config, 'Vielen Dank – Ihre Anmeldung ist bestätigt', () => (
      <>
        <p>
          Sie erhalten in Kürze eine E-Mail mit dem Zugang zum Webinar und dem Termin für Ihren Kalender. Vor
          dem Beginn erinnern wir Sie noch einmal.
        </p>
        <Calendar config={config} />
        <p>
          <a href="/">Zurück zur Webinar-Seite</a>
        </p>
      </>
    ));
  })
  // --- unsubscribe ---
  .get(PATHS.unsubscribe, async (c) => {
    const { config } = await getLiveConfig(c.env.CONTENT);
    const r = await resolve(c, config, 'unsubscribe', c.req.query('t'));
    if (!r.ok) return r.response;
    if (r.lead.status === 'unsubscribed') return unsubscribedPage(c, config, true);
    return page(c, config, 'Keine E-Mails mehr erhalten', () => (
      <>
        <p>
          Nach der Abmeldung senden wir Ihnen keine E-Mails zu diesem Webinar mehr, auch keine Erinnerungen.
        </p>
        <ActionForm path={PATHS.unsubscribe} token={r.token} label="Jetzt abmelden" />
      </>
    ));
  })
  .post(PATHS.unsubscribe, limit, async (c) => {
    const { config } = await getLiveConfig(c.env.CONTENT);
    const r = await resolve(c, config, 'unsubscribe', await postedToken(c));
    if (!r.ok) return r.response;
    try {
      const outcome = await unsubscribeLead(c.env.DB, r.lead.id, Date.now());
      log.info('optin.unsubscribed', { outcome });
      if (outcome === 'missing') return textPage(c, config, FAILURES.missing, 404);
      return unsubscribedPage(c, config, outcome === 'already');
    } catch (error) {
      log.error('optin.unsubscribe_failed', { message: errorMessage(error) });
      c.header('Retry-After', '5');
      return textPage(c, config, BUSY, 503);
    }
  })
  // --- erase ---
  .get(PATHS.erase, async (c) => {
    const { config } = await getLiveConfig(c.env.CONTENT);
    const r = await resolve(c, config, 'erase', c.req.query('t'));
    if (!r.ok) return r.response;
    return page(c, config, 'Ihre Daten löschen', () => (
      <>
        <p>
          Wir löschen Ihre Anmeldung mit allen Angaben dazu (auch eine Gewinnspiel-Teilnahme). Damit Ihre
          Adresse nicht erneut eingetragen wird, behalten wir nur einen nicht umkehrbaren Prüfwert, aus dem
          sich Ihre Adresse nicht ablesen lässt.
        </p>
        <ActionForm path={PATHS.erase} token={r.token} label="Meine Daten jetzt löschen" />
      </>
    ));
  })
  .post(PATHS.erase, limit, async (c) => {
    const { config } = await getLiveConfig(c.env.CONTENT);
    const r = await resolve(c, config, 'erase', await postedToken(c));
    if (!r.ok) return r.response;
    try {
      await eraseLeadById(c.env.DB, r.lead.id, { atMs: Date.now(), by: 'visitor' });
    } catch (error) {
      log.error('optin.erase_failed', { message: errorMessage(error) });
      c.header('Retry-After', '5');
      return textPage(c, config, BUSY, 503);
    }
    log.info('optin.erased');
    return textPage(c, config, {
      heading: 'Ihre Daten sind gelöscht',
      text: 'Wir haben Ihre Anmeldung und alle Angaben dazu gelöscht. Sie erhalten von uns keine E-Mails mehr.',
    });
  });

function alreadyConfirmed(c: Ctx, config: WebinarConfig) {
  return page(c, config, 'Ihre Anmeldung ist bereits bestätigt', () => (
    <>
      <p>Sie müssen nichts weiter tun. Den Zugang zum Webinar haben wir Ihnen per E-Mail gesendet.</p>
      <Calendar config={config} />
      <p>
        <a href="/">Zurück zur Webinar-Seite</a>
      </p>
    </>
  ));
}

function unsubscribedPage(c: Ctx, config: WebinarConfig, already = false) {
  return textPage(c, config, {
    heading: already ? 'Sie sind bereits abgemeldet' : 'Sie sind abgemeldet',
    text: `Sie erhalten keine E-Mails mehr zu diesem Webinar. ${AGAIN}`,
  });
}
