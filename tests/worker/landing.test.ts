/**
 * The landing page's layout and sections as the worker renders them: the form in the
 * hero, the register button that stays in reach, the countdown's values in the HTML, the
 * giveaway before and after its deadline, agenda, FAQ, logo and the registration count.
 * Expected texts come from the config, times are pinned.
 */
import { env, SELF } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_CONFIG } from '../../worker/config-store';
import { loadShell, renderLanding, type ResponseValues } from '../../worker/render';
import { countdownValues } from '../../src/components/countdown';
import { speakerNames } from '../../src/components/page';
import { formatGermanDateTime, scheduleOf } from '../../src/lib/schedule';
import { parseWebinarConfig, type WebinarConfig } from '../../src/lib/webinar-config';

const { startMs } = scheduleOf(DEFAULT_CONFIG.webinar);
const deadlineMs = Date.parse(DEFAULT_CONFIG.giveaway.deadline);
const DAY = 86_400_000;

afterEach(() => vi.useRealTimers());

/** A valid config: the default with `change` applied, checked by the schema. */
function configWith(change: (c: any) => void): WebinarConfig {
  const raw = structuredClone(DEFAULT_CONFIG) as any;
  change(raw);
  const parsed = parseWebinarConfig(raw);
  if (!parsed.success) throw new Error(JSON.stringify(parsed.issues.map((i) => i.message)));
  return parsed.output;
}

async function render(config: WebinarConfig, nowMs: number, values?: ResponseValues) {
  const shell = await loadShell(env.ASSETS, 'https://webinar.test');
  return renderLanding(shell, { version: -1, config }, nowMs, undefined, values);
}

/** The text of the page without tags, whitespace collapsed. */
const text = (html: string) =>
  html
    .replace(/<script[\s\S]*?<\/script>/g, ' ')
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ');

describe('layout', () => {
  it('puts the registration form into the hero, before every content section', async () => {
    const html = await render(DEFAULT_CONFIG, startMs - DAY);
    const hero = html.slice(html.indexOf('class="hero"'), html.indexOf('class="more"'));
    expect(hero).toContain('id="anmeldung"');
    expect(hero).toContain('name="email"');
    expect(hero).toContain(DEFAULT_CONFIG.form.heading);
    expect(html.indexOf('id="anmeldung"')).toBeLessThan(html.indexOf(DEFAULT_CONFIG.topicsHeading));
  });

  it('ends the content with a register button carrying the call to action, before the footer', async () => {
    const html = await render(DEFAULT_CONFIG, startMs - DAY);
    const sticky = html.match(/<p[^>]*class="sticky-cta"[^>]*>([\s\S]*?)<\/p>/);
    expect(sticky?.[1]).toMatch(new RegExp(`href="#anmeldung"[^>]*>${DEFAULT_CONFIG.cta}<`));
    // Inside the block after the hero: sticky there, it can cover neither the form nor the footer.
    const more = html.slice(html.indexOf('class="more"'), html.indexOf('<footer'));
    expect(more).toContain('class="sticky-cta"');
    expect(more.lastIndexOf('</section>')).toBeLessThan(more.indexOf('class="sticky-cta"'));
  });
});

describe('who speaks, beside the form', () => {
  it('says "Mit A, B, C und N weiteren Referenten", or lists up to three names', () => {
    expect(speakerNames(['A', 'B', 'C', 'D', 'E'])).toBe('Mit A, B, C und 2 weiteren Referenten');
    expect(speakerNames(['A', 'B'])).toBe('Mit A und B');
    expect(speakerNames(['A'])).toBe('Mit A');
  });

  it('names the first speakers and shows their faces as decoration, so each photo is named once', async () => {
    const photo = { hash: 'a'.repeat(64), smallHash: 'b'.repeat(64) };
    const config = configWith((c) => (c.speakers[0].photo = photo));
    const html = await render(config, startMs - DAY);
    const names = config.speakers.map((s) => s.name);
    expect(text(html)).toContain(speakerNames(names));
    expect(html.match(new RegExp(`alt="Foto von ${names[0]}"`, 'g'))).toHaveLength(1);
    expect(html).toMatch(/<p class="with"><span class="faces" aria-hidden="true"><img[^>]*alt=""/);
  });
});

describe('countdown', () => {
  it('is in the HTML with the values of the moment of the response', async () => {
    const left = 3 * DAY + 4 * 3_600_000 + 5 * 60_000 + 6_000;
    const html = await render(DEFAULT_CONFIG, startMs - left);
    expect(text(html)).toContain('3 Tage 04 Std. 05 Min. 06 Sek.');
  });

  it('is filled per response from the cached page, so a later visitor sees later values', async () => {
    const first = startMs - 10 * DAY;
    vi.useFakeTimers({ now: first, toFake: ['Date'] });
    const before = await (await SELF.fetch('https://webinar.test/')).text();
    vi.setSystemTime(first + 61_000);
    const after = await (await SELF.fetch('https://webinar.test/')).text();
    const cells = (html: string) => [...html.matchAll(/<b>(\d+)<\/b>/g)].map((m) => m[1]);
    expect(cells(before)).toEqual(countdownValues(10 * DAY));
    expect(cells(after)).toEqual(countdownValues(10 * DAY - 61_000));
  });

  it('counts days, hours, minutes and seconds with leading zeros below the days', () => {
    expect(countdownValues(DAY + 61_000)).toEqual(['1', '00', '01', '01']);
    expect(countdownValues(-5)).toEqual(['0', '00', '00', '00']);
  });
});

describe('giveaway', () => {
  it('shows the prize band and the deadline from its field while entries are open', async () => {
    const page = text(await render(DEFAULT_CONFIG, deadlineMs - 1000));
    expect(page).toContain(DEFAULT_CONFIG.giveaway.headline);
    expect(page).toContain(`Teilnahmeschluss: ${formatGermanDateTime(deadlineMs)}.`);
    expect(page).not.toContain('Gewinnspiel beendet');
  });

  it('says "Gewinnspiel beendet" instead of the prize once the deadline has passed', async () => {
    const html = await render(DEFAULT_CONFIG, deadlineMs + 1000);
    const band = text(
      html.slice(html.indexOf('id="giveaway-h"') - 200, html.indexOf('id="giveaway-h"') + 800),
    );
    expect(band).toContain('Gewinnspiel beendet');
    expect(band).toContain(`Teilnahmeschluss war ${formatGermanDateTime(deadlineMs)}`);
    expect(html).not.toContain(`>${DEFAULT_CONFIG.giveaway.headline}</h2>`);
    expect(html).not.toContain('name="giveaway"');
  });

  it('the terms page takes the deadline from its field and says when the giveaway has ended', async () => {
    vi.useFakeTimers({ now: deadlineMs - DAY, toFake: ['Date'] });
    const open = text(await (await SELF.fetch('https://webinar.test/teilnahmebedingungen')).text());
    expect(open).toContain(`Teilnahmeschluss: ${formatGermanDateTime(deadlineMs)}.`);
    vi.setSystemTime(deadlineMs + DAY);
    const ended = text(await (await SELF.fetch('https://webinar.test/teilnahmebedingungen')).text());
    expect(ended).toContain(
      `Teilnahmeschluss: ${formatGermanDateTime(deadlineMs)} – das Gewinnspiel ist beendet.`,
    );
  });
});

describe('agenda and FAQ', () => {
  it('lists the agenda with its times and every FAQ item as <details>, which opens without script', async () => {
    const config = configWith((c) => {
      c.agenda = {
        heading: 'Ablauf',
        items: [
          { time: '19:00', title: 'Begrüßung' },
          { time: '19:10', title: 'Vortrag', description: 'Was Sie erwartet.' },
        ],
      };
      c.faq = {
        heading: 'Fragen',
        items: [
          { question: 'Kostet es etwas?', answer: 'Nein.' },
          { question: 'Gibt es eine Aufzeichnung?', answer: 'Ja, per E-Mail.' },
        ],
      };
    });
    const html = await render(config, startMs - DAY);
    expect(text(html)).toContain('19:00 Uhr Begrüßung 19:10 Uhr Vortrag Was Sie erwartet.');
    expect(html).toMatch(
      /<details[^>]*><summary[^>]*>Kostet es etwas\?<\/summary><p[^>]*>Nein\.<\/p><\/details>/,
    );
    expect(html.match(/<details/g)).toHaveLength(2);
  });

  it('leaves both sections out for a config published before they existed', async () => {
    const raw = structuredClone(DEFAULT_CONFIG) as any;
    delete raw.agenda;
    delete raw.faq;
    delete raw.registrationCount;
    const parsed = parseWebinarConfig(raw);
    if (!parsed.success) throw new Error('a config without the new sections must stay valid');
    const html = await render(parsed.output, startMs - DAY);
    expect(html).not.toContain('id="agenda-h"');
    expect(html).not.toContain('<details');
  });

  it('ships placeholders in the default config: an agenda and at least three questions', () => {
    expect(DEFAULT_CONFIG.agenda.items.length).toBeGreaterThan(0);
    expect(DEFAULT_CONFIG.faq.items.length).toBeGreaterThanOrEqual(3);
    const marked = [
      ...DEFAULT_CONFIG.agenda.items.map((i) => i.title),
      ...DEFAULT_CONFIG.faq.items.map((i) => i.question),
    ];
    expect(marked.every((t) => t.includes('[Platzhalter]'))).toBe(true);
  });

  it('refuses an agenda time that is not HH:MM, in German', () => {
    const raw = structuredClone(DEFAULT_CONFIG) as any;
    raw.agenda.items[0].time = '19 Uhr';
    const parsed = parseWebinarConfig(raw);
    expect(parsed.success).toBe(false);
    expect(parsed.issues?.[0].message).toBe('Die Uhrzeit braucht das Format HH:MM, z. B. 19:30.');
  });
});

describe('logo', () => {
  it('shows the uploaded logo at half its stored size, named by the company', async () => {
    const hash = 'c'.repeat(64);
    const config = configWith((c) => (c.logo = { hash, width: 320, height: 96 }));
    const html = await render(config, startMs - DAY);
    expect(html).toMatch(
      new RegExp(
        `<img[^>]*class="logo"[^>]*src="/media/${hash}"[^>]*width="160"[^>]*height="48"[^>]*alt="${config.legal.company.replace(/[[\]]/g, '\\$&')}"`,
      ),
    );
  });

  it('has no logo bar without a logo', async () => {
    expect(await render(DEFAULT_CONFIG, startMs - DAY)).not.toContain('class="logo"');
  });
});

describe('share image', () => {
  const meta = (html: string, key: string) =>
    html.match(new RegExp(`<meta (?:property|name)="${key}" content="([^"]+)">`))?.[1];

  it('points og:image and twitter:image to our own 1200 × 630 image, absolute', async () => {
    const html = await render(DEFAULT_CONFIG, startMs - DAY);
    const url = new URL('/og-default.png', DEFAULT_CONFIG.seo.siteUrl).toString();
    expect(meta(html, 'og:image')).toBe(url);
    expect(meta(html, 'twitter:image')).toBe(url);
    expect([meta(html, 'og:image:width'), meta(html, 'og:image:height')]).toEqual(['1200', '630']);
    const file = await env.ASSETS.fetch('https://webinar.test/og-default.png');
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('image/png');
  });

  it('uses the image the editor drew for the published version', async () => {
    const hash = 'e'.repeat(64);
    const html = await render(
      configWith((c) => (c.seo.shareImage = hash)),
      startMs - DAY,
    );
    expect(meta(html, 'og:image')).toBe(new URL(`/media/${hash}`, DEFAULT_CONFIG.seo.siteUrl).toString());
    expect(meta(html, 'og:image:alt')).toBe(
      `${DEFAULT_CONFIG.webinar.title} – ${formatGermanDateTime(startMs)}`,
    );
  });
});

describe('"Bereits N Anmeldungen"', () => {
  const shown = configWith((c) => (c.registrationCount = { show: true, minimum: 10 }));

  it('shows the real count, formatted in German, when switched on and at the minimum', async () => {
    expect(text(await render(shown, startMs - DAY, { registrations: 1234 }))).toContain(
      'Bereits 1.234 Anmeldungen',
    );
  });

  it('is left out below the minimum, when the count is unknown and when switched off', async () => {
    expect(text(await render(shown, startMs - DAY, { registrations: 9 }))).not.toContain('Bereits');
    expect(text(await render(shown, startMs - DAY, { registrations: null }))).not.toContain('Bereits');
    expect(text(await render(DEFAULT_CONFIG, startMs - DAY, { registrations: 5000 }))).not.toContain(
      'Bereits',
    );
  });

  it('is off in the default config', () => {
    expect(DEFAULT_CONFIG.registrationCount.show).toBe(false);
  });
});
