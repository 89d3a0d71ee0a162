/**
 * Visitor pages rendered by the worker: the landing page (with the registration count
 * when the config shows it), the thank-you page (target of the no-JavaScript form post),
 * the legal pages from the config, and the calendar file.
 */
import { Hono, type Context } from 'hono';
import { webinarIcs, calendarLinks } from '../../src/lib/calendar';
import { phaseAt, scheduleOf } from '../../src/lib/schedule';
import { ImprintPage, Paragraphs, SimplePage, TermsPage } from '../../src/components/page';
import { CalendarButtons } from '../../src/components/thank-you';
import { getLiveConfig } from '../config-store';
import { confirmedRegistrations } from '../registration-count';
import { cachedLanding, loadShell, renderSimple } from '../render';
import { attackMode } from '../abuse/attack-mode';
import { plainFormSlots } from '../abuse/form-stamp';

const isDev = (c: Context<{ Bindings: Env }>) => c.env.ENVIRONMENT === 'development';

async function shellFor(c: Context<{ Bindings: Env }>) {
  return loadShell(c.env.ASSETS, new URL(c.req.url).origin, isDev(c));
}

function html(c: Context, body: string, status: 200 | 404 = 200) {
  c.header('Cache-Control', 'no-cache');
  return c.html(body, status);
}

export const pageRoutes = new Hono<{ Bindings: Env }>()
  .get('/', async (c) => {
    const now = Date.now();
    const [shell, live, attack] = await Promise.all([
      shellFor(c),
      getLiveConfig(c.env.CONTENT),
      attackMode(c.env.DB, now),
    ]);
    // Counted only when the page shows it; cached, so D1 is asked at most once a minute.
    const registrations = live.config.registrationCount.show
      ? await confirmedRegistrations(c.env.DB, now, (p) => c.executionCtx.waitUntil(p))
      : null;
    const form = await plainFormSlots(c.env.LEAD_KEY_SECRET, attack.on, now);
    return html(c, cachedLanding(shell, live, now, !isDev(c), { registrations, ...form }));
  })
  .get('/index.html', (c) => c.redirect('/', 301))
  .get('/danke', async (c) => {
    const [shell, { config }] = await Promise.all([shellFor(c), getLiveConfig(c.env.CONTENT)]);
    const after = phaseAt(scheduleOf(config.webinar), Date.now()) === 'after';
    return html(
      c,
      renderSimple(shell, config, {
        title: `${config.form.thankYouHeading} – ${config.seo.title}`,
        path: '/danke',
        noindex: true,
        body: () => (
          <SimplePage config={config} heading={config.form.thankYouHeading}>
            <p>{config.form.thankYouText}</p>
            <CalendarButtons links={after ? null : calendarLinks(config)} />
            <p>
              <a href="/">Zurück zur Webinar-Seite</a>
            </p>
          </SimplePage>
        ),
      }),
    );
  })
  .get('/impressum', async (c) => {
    const [shell, { config }] = await Promise.all([shellFor(c), getLiveConfig(c.env.CONTENT)]);
    return html(
      c,
      renderSimple(shell, config, {
        title: `Impressum – ${config.seo.title}`,
        path: '/impressum',
        body: () => <ImprintPage config={config} />,
      }),
    );
  })
  .get('/datenschutz', async (c) => {
    const [shell, { config }] = await Promise.all([shellFor(c), getLiveConfig(c.env.CONTENT)]);
    return html(
      c,
      renderSimple(shell, config, {
        title: `Datenschutzhinweise – ${config.seo.title}`,
        path: '/datenschutz',
        body: () => (
          <SimplePage config={config} heading="Datenschutzhinweise">
            <Paragraphs items={config.legal.privacy} />
          </SimplePage>
        ),
      }),
    );
  })
  .get('/teilnahmebedingungen', async (c) => {
    const [shell, { config }] = await Promise.all([shellFor(c), getLiveConfig(c.env.CONTENT)]);
    return html(
      c,
      renderSimple(shell, config, {
        title: `Teilnahmebedingungen – ${config.seo.title}`,
        path: '/teilnahmebedingungen',
        body: () => <TermsPage config={config} nowMs={Date.now()} />,
      }),
    );
  })
  .get('/webinar.ics', async (c) => {
    const { config } = await getLiveConfig(c.env.CONTENT);
    const host = new URL(config.seo.siteUrl).host;
    const ics = webinarIcs(config, {
      uid: `webinar-${Date.parse(config.webinar.start)}@${host}`,
      url: config.seo.siteUrl,
      alarmMinutes: 15,
    });
    return c.body(ics, 200, {
      'Content-Type': 'text/calendar; charset=utf-8',
      'Content-Disposition': 'attachment; filename="webinar.ics"',
      'Cache-Control': 'public, max-age=300',
    });
  });

/** 404 in the site's frame, German. */
export async function notFoundPage(c: Context<{ Bindings: Env }>) {
  if (new URL(c.req.url).pathname.startsWith('/api/')) {
    return c.json({ ok: false, errors: { form: 'Diese Adresse gibt es nicht.' } }, 404);
  }
  const [shell, { config }] = await Promise.all([shellFor(c), getLiveConfig(c.env.CONTENT)]);
  return html(
    c,
    renderSimple(shell, config, {
      title: `Seite nicht gefunden – ${config.seo.title}`,
      path: '/',
      noindex: true,
      body: () => (
        <SimplePage config={config} heading="Diese Seite gibt es nicht">
          <p>
            Die Adresse ist vielleicht veraltet oder falsch geschrieben. <a href="/">Zur Webinar-Seite</a>
          </p>
        </SimplePage>
      ),
    }),
    404,
  );
}
