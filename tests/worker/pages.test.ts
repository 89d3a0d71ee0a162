import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../worker/config-store';
import { loadShell, renderLanding } from '../../worker/render';
import { scheduleOf } from '../../src/lib/schedule';
import { gzipSize } from './helpers';

const live = { version: 0, config: DEFAULT_CONFIG };
const { startMs, endMs } = scheduleOf(DEFAULT_CONFIG.webinar);

async function page(path: string) {
  const res = await SELF.fetch(`https://webinar.test${path}`);
  return { res, html: await res.text() };
}

describe('GET /', () => {
  it('serves the whole page in the first response: title, date, topics, speakers, giveaway, form', async () => {
    const { res, html } = await page('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(html).toContain('<html lang="de">');
    expect(html).toMatch(/<h1[^>]*>Finanzielle Selbstverteidigung: So retten Sie Ihr Vermögen<\/h1>/);
    expect(html).toContain('Donnerstag, 18. März 2027');
    expect(html).toContain('19:00 Uhr MEZ');
    expect(html).toContain('Keine Kreditkarte erforderlich • Keine versteckten Kosten');
    for (const topic of [
      'Der gläserne Bürger',
      'Die Systeme greifen ineinander',
      'Konkrete Lösungen zum Schutz',
    ]) {
      expect(html).toContain(topic);
    }
    for (const name of [
      'Dominik Kettner',
      'Dieter Bohlen',
      'Prof. Dr. Werner Patzelt',
      'Peter Hahne',
      'Fürstin Thurn und Taxis',
      'Jochen Staiger',
    ]) {
      expect(html).toContain(`<h3>${name}</h3>`);
    }
    expect(html).toContain('15.000 € Gold zu gewinnen');
    expect(html).toMatch(/<form[^>]*method="post"[^>]*action="\/api\/register/);
    expect(html).toContain('name="email"');
    expect(html).toContain('name="privacy"');
    expect(html).toContain('href="/impressum"');
  });

  it('never puts the join link into the public page', async () => {
    const { html } = await page('/');
    expect(html).not.toContain(DEFAULT_CONFIG.webinar.joinUrl);
  });

  it('draws initials avatars when a speaker has no photo, so no image is requested', async () => {
    const { html } = await page('/');
    expect(html).toContain('>DK</span>');
    expect(html).toContain('>WP</span>');
    expect(html).not.toContain('<img');
  });

  it('carries a JSON-LD Event: online, free, with all six speakers as performers', async () => {
    const { html } = await page('/');
    const json = html.match(/<script type="application\/ld\+json">(.*?)<\/script>/)![1];
    const event = JSON.parse(json);
    expect(event['@type']).toBe('Event');
    expect(event.eventAttendanceMode).toBe('https://schema.org/OnlineEventAttendanceMode');
    expect(event.isAccessibleForFree).toBe(true);
    expect(event.offers.price).toBe(0);
    expect(event.startDate).toBe(DEFAULT_CONFIG.webinar.start);
    expect(event.performer.map((p: { name: string }) => p.name)).toHaveLength(6);
  });

  it('has Open Graph and Twitter meta, a description and a canonical link', async () => {
    const { html } = await page('/');
    expect(html).toMatch(/<meta property="og:title" content="[^"]+">/);
    expect(html).toMatch(/<meta property="og:description" content="[^"]+">/);
    expect(html).toMatch(/<meta name="twitter:card" content="summary_large_image">/);
    expect(html).toMatch(/<meta name="description" content="[^"]+">/);
    expect(html).toContain('<link rel="canonical" href="https://webinar.example.com/">');
  });

  it('sets no cookie', async () => {
    const { res } = await page('/');
    expect(res.headers.get('set-cookie')).toBeNull();
  });
});

describe('phases', () => {
  it('before the start: countdown and registration', async () => {
    const shell = await loadShell(env.ASSETS, 'https://webinar.test');
    const html = renderLanding(shell, live, startMs - 86_400_000);
    expect(html).toContain('id="countdown"');
    expect(html).toContain('Sichern Sie sich Ihren kostenlosen Platz');
    expect(html).not.toContain('Jetzt live');
  });

  it('during the webinar: the hero says it is live now', async () => {
    const shell = await loadShell(env.ASSETS, 'https://webinar.test');
    const html = renderLanding(shell, live, startMs + 60_000);
    expect(html).toContain('Jetzt live');
    expect(html).toContain('Das Webinar läuft gerade');
    expect(html).not.toContain('id="countdown"');
  });

  it('after the end: says so and offers the replay sign-up', async () => {
    const shell = await loadShell(env.ASSETS, 'https://webinar.test');
    const html = renderLanding(shell, live, endMs + 60_000);
    expect(html).toContain('Das Webinar hat bereits stattgefunden');
    expect(html).toContain('Aufzeichnung kostenlos anfordern');
    expect(html).toContain('Aufzeichnung anfordern');
    expect(html).not.toContain('id="countdown"');
  });

  it('drops the giveaway checkbox once its deadline has passed', async () => {
    const shell = await loadShell(env.ASSETS, 'https://webinar.test');
    const before = renderLanding(shell, live, Date.parse(DEFAULT_CONFIG.giveaway.deadline) - 1000);
    const after = renderLanding(shell, live, Date.parse(DEFAULT_CONFIG.giveaway.deadline) + 1000);
    expect(before).toContain('name="giveaway"');
    expect(after).not.toContain('name="giveaway"');
  });
});

describe('other visitor pages', () => {
  it.each([
    ['/impressum', 'Impressum', DEFAULT_CONFIG.legal.company],
    ['/datenschutz', 'Datenschutzhinweise', DEFAULT_CONFIG.legal.privacy[2]],
    ['/teilnahmebedingungen', 'Teilnahmebedingungen', DEFAULT_CONFIG.giveaway.terms[2]],
    ['/danke', DEFAULT_CONFIG.form.thankYouHeading, 'Google Kalender'],
  ])('%s renders from the config without any script', async (path, heading, text) => {
    const { res, html } = await page(path);
    expect(res.status).toBe(200);
    expect(html).toContain(heading);
    expect(html).toContain(text);
    expect(html).not.toMatch(/<script(?! type="application\/(ld\+)?json")/);
  });

  it('answers an unknown path with a German 404 page', async () => {
    const { res, html } = await page('/gibt-es-nicht');
    expect(res.status).toBe(404);
    expect(html).toContain('Diese Seite gibt es nicht');
  });

  it('serves robots.txt and the favicon as static files', async () => {
    // Static files never reach the worker; they come straight from the assets.
    expect(await (await env.ASSETS.fetch('https://webinar.test/robots.txt')).text()).toContain(
      'User-agent: *',
    );
    expect((await env.ASSETS.fetch('https://webinar.test/favicon.svg')).status).toBe(200);
  });
});

describe('GET /webinar.ics', () => {
  it('is a calendar file with the webinar in UTC and a 15-minute alarm', async () => {
    const res = await SELF.fetch('https://webinar.test/webinar.ics');
    expect(res.headers.get('content-type')).toBe('text/calendar; charset=utf-8');
    const ics = await res.text();
    expect(ics).toMatch(/^BEGIN:VCALENDAR\r\n/);
    expect(ics).toContain('METHOD:PUBLISH');
    expect(ics).toContain('DTSTART:20270318T180000Z');
    expect(ics).toContain(`DTEND:${new Date(endMs).toISOString().replace(/[-:]/g, '').replace('.000', '')}`);
    expect(ics).toContain('TRIGGER:-PT15M');
    expect(ics.split('\r\n').every((line) => new TextEncoder().encode(line).length <= 75)).toBe(true);
  });
});

describe('security headers', () => {
  it.each(['/', '/danke', '/impressum', '/gibt-es-nicht', '/webinar.ics'])(
    '%s carries them',
    async (path) => {
      const res = await SELF.fetch(`https://webinar.test${path}`);
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toMatch(/script-src 'self' 'sha256-[A-Za-z0-9+/=]+'/);
      expect(csp).not.toMatch(/script-src[^;]*unsafe-(inline|eval)/);
      expect(csp).toContain("frame-ancestors 'none'");
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('strict-origin-when-cross-origin');
      expect(res.headers.get('permissions-policy')).toContain('camera=()');
    },
  );

  it('the CSP allows exactly the inline scripts on the page (hydration bootstrap, island loader) by hash', async () => {
    const res = await SELF.fetch('https://webinar.test/');
    const html = await res.text();
    const inline = [
      ...html.matchAll(/<script(?![^>]*(\bsrc=|type="application\/(ld\+)?json"))[^>]*>([\s\S]*?)<\/script>/g),
    ];
    expect(inline).toHaveLength(2);
    for (const script of inline) {
      const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(script[3]));
      const hash = btoa(String.fromCharCode(...new Uint8Array(digest)));
      expect(res.headers.get('content-security-policy')).toContain(`'sha256-${hash}'`);
    }
  });

  it('requests the island script only after the first paint, from our own origin', async () => {
    const html = await (await SELF.fetch('https://webinar.test/')).text();
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).toMatch(/requestAnimationFrame\(.*s\.src="\/assets\/[^"]+\.js"/);
  });
});

describe('budgets (built app)', () => {
  it('HTML of / is at most 14 KB gzip, critical CSS inline, no external stylesheet', async () => {
    const { html } = await page('/');
    expect(html).toMatch(/<style>[^<]{500,}<\/style>/);
    expect(html).not.toMatch(/<link[^>]+rel="stylesheet"/);
    const size = await gzipSize(html);
    expect(size).toBeLessThanOrEqual(14 * 1024);
  });

  it('JavaScript on first load is at most 12 KB gzip', async () => {
    const { html } = await page('/');
    const srcs = [
      // Script tags, preloads and the island loader's src.
      ...html.matchAll(/(?:<script[^>]+src=|<link[^>]+rel="modulepreload"[^>]+href=|\.src=)"([^"]+)"/g),
    ].map((m) => m[1]);
    expect(srcs.length).toBeGreaterThan(0);
    let total = 0;
    for (const src of srcs) {
      const res = await env.ASSETS.fetch(new URL(src, 'https://webinar.test'));
      expect(res.status, src).toBe(200);
      const js = await res.text();
      total += await gzipSize(js);
      // Static imports of the entry load on first paint too.
      for (const m of js.matchAll(/import\s*(?:[^'"]*from\s*)?["'](\.\/[^"']+\.js)["']/g)) {
        const dep = await env.ASSETS.fetch(new URL(m[1], new URL(src, 'https://webinar.test')));
        total += await gzipSize(await dep.text());
      }
    }
    expect(total).toBeLessThanOrEqual(12 * 1024);
  });

  it('references nothing on another origin and no web font', async () => {
    const { html } = await page('/');
    const urls = [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    const loaded = [
      ...html.matchAll(/<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href|srcset)="([^"]+)"/g),
    ].map((m) => m[1]);
    for (const url of loaded) {
      if (url.startsWith('http')) expect(new URL(url).origin, url).toBe('https://webinar.example.com');
    }
    expect(urls.some((u) => /\.(woff2?|ttf|otf)(\?|$)/.test(u))).toBe(false);
    expect(html).not.toMatch(/@font-face|@import/);
  });
});
