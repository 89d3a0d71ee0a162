/**
 * The Hono app: every route of the worker.
 *
 * Visitor:  GET /  /danke  /impressum  /datenschutz  /teilnahmebedingungen  /webinar.ics
 *           GET /api/register/challenge (proof of work), POST /api/register
 *           GET|POST /bestaetigen  /abmelden  /loeschen  (signed mail links, routes/optin.tsx)
 * Static assets (hashed JS, favicon, robots.txt) are served by Workers Static Assets
 * before the worker runs; see `run_worker_first` in wrangler.toml.
 */
import { Hono } from 'hono';
import { errorMessage, log } from './log';
import { adminRoutes } from './routes/admin';
import { adminOpsRoutes } from './routes/admin-ops';
import { adminConfigRoutes } from './routes/admin-config';
import { mediaRoutes } from './routes/media';
import { adminMailRoutes } from './routes/admin-mail';
import { adminMigrateRoutes } from './routes/admin-migrate';
import { adminWebhookRoutes } from './routes/admin-webhooks';
import { optinRoutes } from './routes/optin';
import { notFoundPage, pageRoutes } from './routes/pages';
import { registerRoutes } from './routes/register';
import { challengeRoutes } from './routes/challenge';
import { adminAbuseRoutes } from './routes/admin-abuse';
import { securityHeaders } from './security-headers';

export const app = new Hono<{ Bindings: Env }>()
  .use(securityHeaders())
  .route('/', pageRoutes)
  .route('/', challengeRoutes)
  .route('/', registerRoutes)
  .route('/', optinRoutes)
  .route('/', adminMailRoutes)
  .route('/', adminRoutes)
  .route('/', adminOpsRoutes)
  .route('/', adminAbuseRoutes)
  .route('/', adminMigrateRoutes)
  .route('/', adminConfigRoutes)
  .route('/', mediaRoutes)
  .route('/', adminWebhookRoutes); // webhooks and the Brevo connector (issue 16)

app.notFound(notFoundPage);
app.onError((error, c) => {
  log.error('unhandled', { path: new URL(c.req.url).pathname, message: errorMessage(error) });
  c.header('Cache-Control', 'no-store');
  if (new URL(c.req.url).pathname.startsWith('/api/')) {
    return c.json(
      {
        ok: false,
        errors: { form: 'Ein unerwarteter Fehler ist aufgetreten. Bitte versuchen Sie es erneut.' },
      },
      500,
    );
  }
  return c.text('Ein unerwarteter Fehler ist aufgetreten. Bitte laden Sie die Seite neu.', 500);
});

export type AppType = typeof app;
