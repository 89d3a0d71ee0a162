/**
 * Server rendering of the visitor pages. The HTML shell is the Vite-built `index.html`
 * (fetched once per isolate through `env.ASSETS`, so its hashed asset names are right);
 * the worker fills its placeholders with head tags, the hydration bootstrap and the
 * Solid-rendered body. Landing pages are cached in the isolate per (config version,
 * phase); pages carrying a visitor's input are never cached.
 */
import { renderToString } from 'solid-js/web';
import { calendarLinks } from '../src/lib/calendar';
import type { FieldErrors } from '../src/lib/registration';
import { phaseAt, scheduleOf, type Phase } from '../src/lib/schedule';
import type { WebinarConfig } from '../src/lib/webinar-config';
import { Countdown } from '../src/components/countdown';
import {
  ISLANDS,
  jsonForScript,
  type IslandMarkup,
  type IslandName,
  type IslandProps,
} from '../src/components/island';
import { LandingPage } from '../src/components/page';
import {
  RegistrationForm,
  type FormValues,
  type RegistrationFormProps,
} from '../src/components/registration-form';
import type { LiveConfig } from './config-store';
import { allowInlineScript, HYDRATION_SCRIPT_TAG } from './security-headers';

let shell: Promise<string> | undefined;

/** Fetches the built index.html; `reload` skips the isolate cache (dev mode). */
export function loadShell(assets: Fetcher, origin: string, reload = false): Promise<string> {
  if (!shell || reload) {
    shell = (async () => {
      let res = await assets.fetch(new Request(new URL('/index.html', origin)));
      if (res.status >= 300 && res.status < 400) res = await assets.fetch(new Request(new URL('/', origin)));
      if (!res.ok) throw new Error(`index.html not found in assets (${res.status}); run npm run build`);
      return deferClientScript(await res.text());
    })();
    shell.catch(() => (shell = undefined));
  }
  return shell;
}

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!,
  );

export interface HeadOptions {
  title: string;
  description: string;
  canonicalPath: string;
  config: WebinarConfig;
  /** JSON-LD Event only on the landing page. */
  event?: boolean;
  noindex?: boolean;
}

export function headTags(o: HeadOptions): string {
  const url = new URL(o.canonicalPath, o.config.seo.siteUrl).toString();
  const tags = [
    `<title>${escapeHtml(o.title)}</title>`,
    `<meta name="description" content="${escapeHtml(o.description)}">`,
    `<link rel="canonical" href="${escapeHtml(url)}">`,
    `<meta name="theme-color" content="#14213d">`,
    `<meta property="og:type" content="website">`,
    `<meta property="og:locale" content="de_DE">`,
    `<meta property="og:title" content="${escapeHtml(o.title)}">`,
    `<meta property="og:description" content="${escapeHtml(o.description)}">`,
    `<meta property="og:url" content="${escapeHtml(url)}">`,
    `<meta name="twitter:card" content="summary">`,
    `<meta name="twitter:title" content="${escapeHtml(o.title)}">`,
    `<meta name="twitter:description" content="${escapeHtml(o.description)}">`,
  ];
  if (o.noindex) tags.push('<meta name="robots" content="noindex">');
  if (o.event)
    tags.push(`<script type="application/ld+json">${jsonForScript(eventJsonLd(o.config))}</script>`);
  return tags.join('');
}

/** schema.org Event: online, free, the speakers as performers. */
export function eventJsonLd(config: WebinarConfig) {
  const { startMs, endMs } = scheduleOf(config.webinar);
  return {
    '@context': 'https://schema.org',
    '@type': 'Event',
    name: config.webinar.title,
    description: config.webinar.subtitle,
    startDate: config.webinar.start,
    endDate: new Date(endMs).toISOString(),
    eventStatus: 'https://schema.org/EventScheduled',
    eventAttendanceMode: 'https://schema.org/OnlineEventAttendanceMode',
    location: { '@type': 'VirtualLocation', url: config.seo.siteUrl },
    isAccessibleForFree: true,
    inLanguage: 'de-DE',
    offers: {
      '@type': 'Offer',
      price: 0,
      priceCurrency: 'EUR',
      availability: 'https://schema.org/InStock',
      url: config.seo.siteUrl,
      validFrom: new Date(startMs - 90 * 86_400_000).toISOString(),
    },
    organizer: { '@type': 'Organization', name: config.legal.company, url: config.seo.siteUrl },
    performer: config.speakers.map((s) => ({ '@type': 'Person', name: s.name })),
  };
}

/** Removes the client script (and its preloads) from pages without islands. */
/** The built island bundle's tag, as Vite writes it into index.html. */
const BUILT_CLIENT_SCRIPT = /<script type="module"[^>]*\ssrc="(\/assets\/[^"]+\.js)"[^>]*><\/script>/;
const CLIENT_MARKER = '<!--app-client-->';
let clientLoader = '';

/**
 * Replaces the built module script by a tiny inline loader that requests it after the
 * first frame is painted: the page is complete without it, so the HTML gets the whole
 * connection first and the script never delays the first or largest paint
 * (docs/decisions/006-island-loader.md). Dev builds are left as Vite serves them.
 */
async function deferClientScript(html: string): Promise<string> {
  const match = BUILT_CLIENT_SCRIPT.exec(html);
  if (!match) return html;
  const loader =
    `requestAnimationFrame(()=>setTimeout(()=>{let s=document.createElement("script");` +
    `s.type="module";s.src=${JSON.stringify(match[1])};document.head.append(s)}))`;
  await allowInlineScript(loader);
  clientLoader = `<script>${loader}</script>`;
  return html.replace(match[0], CLIENT_MARKER);
}

function withoutClientScript(html: string): string {
  return html
    .replace(CLIENT_MARKER, '')
    .replace(/<script type="module"[^>]*><\/script>/g, '')
    .replace(/<link rel="modulepreload"[^>]*>/g, '')
    .replace('<!--app-hydration-->', '');
}

export function fillShell(
  shellHtml: string,
  parts: { head: string; body: string; interactive: boolean },
): string {
  const html = shellHtml
    .replace('<!--app-head-->', () => parts.head)
    .replace('<!--app-body-->', () => parts.body);
  return parts.interactive
    ? html
        .replace('<!--app-hydration-->', () => HYDRATION_SCRIPT_TAG)
        .replace(CLIENT_MARKER, () => clientLoader)
    : withoutClientScript(html);
}

function island<K extends IslandName>(
  name: K,
  render: (props: IslandProps[K]) => unknown,
  props: IslandProps[K],
): IslandMarkup {
  const html = renderToString(() => render(props) as never, { renderId: ISLANDS[name].renderId });
  return { html, propsJson: jsonForScript(props) };
}

export interface FormState {
  values: FormValues;
  errors: FieldErrors;
}

export function formProps(
  config: WebinarConfig,
  phase: Phase,
  nowMs: number,
  state?: FormState,
): RegistrationFormProps {
  return {
    mode: phase === 'after' ? 'replay' : 'register',
    heading: phase === 'after' ? config.form.replayHeading : config.form.heading,
    submitLabel: phase === 'after' ? 'Aufzeichnung anfordern' : config.cta,
    privacyLabel: config.form.privacyLabel,
    giveawayLabel: config.form.giveawayLabel,
    newsletterLabel: config.form.newsletterLabel,
    giveawayOpen: nowMs < Date.parse(config.giveaway.deadline),
    thankYouHeading: config.form.thankYouHeading,
    thankYouText: config.form.thankYouText,
    calendar: phase === 'after' ? null : calendarLinks(config),
    ...(state ? { values: state.values, errors: state.errors } : {}),
  };
}

export function renderLanding(shellHtml: string, live: LiveConfig, nowMs: number, state?: FormState): string {
  const { config } = live;
  const phase = phaseAt(scheduleOf(config.webinar), nowMs);
  const countdown = island('countdown', Countdown, { startMs: scheduleOf(config.webinar).startMs });
  const form = island('form', RegistrationForm, formProps(config, phase, nowMs, state));
  const body = renderToString(() => (
    <LandingPage config={config} phase={phase} countdown={countdown} form={form} />
  ));
  const head = headTags({
    title: config.seo.title,
    description: config.seo.description,
    canonicalPath: '/',
    config,
    event: true,
  });
  return fillShell(shellHtml, { head, body, interactive: true });
}

/** Cache of rendered landing pages; bounded so old versions do not pile up. */
const landingCache = new Map<string, string>();

export function cachedLanding(shellHtml: string, live: LiveConfig, nowMs: number, useCache: boolean): string {
  const { config, version } = live;
  const phase = phaseAt(scheduleOf(config.webinar), nowMs);
  // The giveaway checkbox disappears at its deadline, so that is part of the key too.
  const giveawayOpen = nowMs < Date.parse(config.giveaway.deadline);
  const key = `${version}:${phase}:${giveawayOpen ? 1 : 0}`;
  const hit = useCache ? landingCache.get(key) : undefined;
  if (hit) return hit;
  const html = renderLanding(shellHtml, live, nowMs);
  if (useCache) {
    if (landingCache.size >= 8) landingCache.delete(landingCache.keys().next().value!);
    landingCache.set(key, html);
  }
  return html;
}

export function resetRenderCache() {
  landingCache.clear();
  shell = undefined;
}

/** A page without islands (legal texts, thank-you, errors). */
export function renderSimple(
  shellHtml: string,
  config: WebinarConfig,
  o: { title: string; path: string; body: () => unknown; noindex?: boolean },
): string {
  const body = renderToString(() => o.body() as never);
  const head = headTags({
    title: o.title,
    description: config.seo.description,
    canonicalPath: o.path,
    config,
    noindex: o.noindex,
  });
  return fillShell(shellHtml, { head, body, interactive: false });
}
