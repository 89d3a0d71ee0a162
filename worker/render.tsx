/**
 * Server rendering of the visitor pages. The HTML shell is the Vite-built `index.html`
 * (fetched once per isolate through `env.ASSETS`, so its hashed asset names are right);
 * the worker fills its placeholders with head tags, the hydration bootstrap and the
 * Solid-rendered body. Landing pages are cached in the isolate per (config version,
 * phase); pages carrying a visitor's input are never cached.
 */
import { NoHydration, renderToString } from 'solid-js/web';
import { calendarLinks } from '../src/lib/calendar';
import type { FieldErrors } from '../src/lib/registration';
import { phaseAt, scheduleOf, type Phase } from '../src/lib/schedule';
import { DEFAULT_SHARE_IMAGE_PATH, SHARE_IMAGE_SIZE, shareImageText } from '../src/lib/share-image';
import type { WebinarConfig } from '../src/lib/webinar-config';
import { COUNTDOWN_SLOT, countdownCells } from '../src/components/countdown';
import {
  ISLANDS,
  jsonForScript,
  type IslandMarkup,
  type IslandName,
  type IslandProps,
} from '../src/components/island';
import { LandingPage, REGISTRATIONS_SLOT, registrationsLine } from '../src/components/page';
import { ThankYou } from '../src/components/thank-you';
import {
  ConsentLabel,
  FORM_MESSAGES,
  FORM_STAMP_SLOT,
  QUESTION_SLOT,
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

/**
 * The share image's absolute address: the one the editor drew on publish, else the repo
 * default's (public/og-default.png). Crawlers need absolute URLs; both are on our origin.
 */
export function shareImageUrl(config: WebinarConfig): string {
  const path = config.seo.shareImage ? `/media/${config.seo.shareImage}` : DEFAULT_SHARE_IMAGE_PATH;
  return new URL(path, config.seo.siteUrl).toString();
}

export function headTags(o: HeadOptions): string {
  const url = new URL(o.canonicalPath, o.config.seo.siteUrl).toString();
  const image = escapeHtml(shareImageUrl(o.config));
  const { title, when } = shareImageText(o.config);
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
    `<meta property="og:image" content="${image}">`,
    `<meta property="og:image:type" content="image/png">`,
    `<meta property="og:image:width" content="${SHARE_IMAGE_SIZE.width}">`,
    `<meta property="og:image:height" content="${SHARE_IMAGE_SIZE.height}">`,
    `<meta property="og:image:alt" content="${escapeHtml(`${title} – ${when}`)}">`,
    `<meta name="twitter:card" content="summary_large_image">`,
    `<meta name="twitter:title" content="${escapeHtml(o.title)}">`,
    `<meta name="twitter:description" content="${escapeHtml(o.description)}">`,
    `<meta name="twitter:image" content="${image}">`,
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

/**
 * HTML the island inserts as is (labels, the thank-you block): without hydration keys,
 * which the island's own hydration would otherwise mistake for its elements.
 */
const staticHtml = (render: () => unknown) =>
  renderToString(() => <NoHydration>{render() as never}</NoHydration>);

const giveawayOpenAt = (config: WebinarConfig, nowMs: number) => nowMs < Date.parse(config.giveaway.deadline);

export function formProps(
  config: WebinarConfig,
  phase: Phase,
  nowMs: number,
  state?: FormState,
  o: { version?: number; attack?: boolean } = {},
): RegistrationFormProps {
  const thanks = () => (
    <ThankYou
      heading={config.form.thankYouHeading}
      text={config.form.thankYouText}
      calendar={phase === 'after' ? null : calendarLinks(config)}
    />
  );
  const label = (props: Parameters<typeof ConsentLabel>[0]) => staticHtml(() => <ConsentLabel {...props} />);
  return {
    submitLabel: phase === 'after' ? 'Aufzeichnung anfordern' : config.cta,
    labels: {
      privacy: label({
        text: config.form.privacyLabel,
        link: { href: '/datenschutz', text: 'Datenschutzhinweise' },
        required: true,
      }),
      giveaway: label({
        text: config.form.giveawayLabel,
        link: { href: '/teilnahmebedingungen', text: 'Teilnahmebedingungen' },
      }),
      newsletter: label({ text: config.form.newsletterLabel }),
    },
    giveawayOpen: giveawayOpenAt(config, nowMs),
    configVersion: Math.max(0, o.version ?? 0),
    stamp: FORM_STAMP_SLOT,
    ...(o.attack ? { question: true } : {}),
    messages: FORM_MESSAGES,
    thanksHtml: staticHtml(thanks),
    ...(state ? { values: state.values, errors: state.errors } : {}),
  };
}

/** What differs per response and is filled into the (cached) page by `fillSlots`. */
export interface ResponseValues {
  /** Confirmed registrations, or null when unknown (then the line is left out). */
  registrations?: number | null;
  /** The plain form's signed render time (worker/abuse/form-stamp.ts). */
  stamp?: string;
  /** Attack mode: the question the plain form asks (its index is in the stamp). */
  question?: string;
}

/** The landing page with its per-response slots still empty: what the cache holds. */
function renderLandingTemplate(
  shellHtml: string,
  live: LiveConfig,
  nowMs: number,
  state?: FormState,
  attack = false,
): string {
  const { config } = live;
  const phase = phaseAt(scheduleOf(config.webinar), nowMs);
  const form = island(
    'form',
    RegistrationForm,
    formProps(config, phase, nowMs, state, { version: live.version, attack }),
  );
  // The page around the island is never hydrated, so it carries no hydration keys.
  const body = staticHtml(() => (
    <LandingPage config={config} phase={phase} giveawayOpen={giveawayOpenAt(config, nowMs)} form={form} />
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

/**
 * Fills the slots of one response: the countdown's values at `nowMs` (so the page reads
 * right without JavaScript) and the registration count, when the config shows it and it
 * has reached the configured minimum.
 */
export function fillSlots(html: string, config: WebinarConfig, nowMs: number, values: ResponseValues = {}) {
  const { registrations } = values;
  const { show, minimum } = config.registrationCount;
  const line =
    show && typeof registrations === 'number' && registrations > 0 && registrations >= minimum
      ? escapeHtml(registrationsLine(registrations))
      : '';
  return html
    .replace(COUNTDOWN_SLOT, () => countdownCells(scheduleOf(config.webinar).startMs - nowMs))
    .replace(REGISTRATIONS_SLOT, () => line)
    .replaceAll(FORM_STAMP_SLOT, () => escapeHtml(values.stamp ?? ''))
    .replace(QUESTION_SLOT, () => escapeHtml(values.question ?? ''));
}

/** The landing page for one response, uncached (form re-renders with input, previews). */
export function renderLanding(
  shellHtml: string,
  live: LiveConfig,
  nowMs: number,
  state?: FormState,
  values?: ResponseValues,
): string {
  return fillSlots(
    renderLandingTemplate(shellHtml, live, nowMs, state, values?.question !== undefined),
    live.config,
    nowMs,
    values,
  );
}

/** Cache of rendered landing pages; bounded so old versions do not pile up. */
const landingCache = new Map<string, string>();

export function cachedLanding(
  shellHtml: string,
  live: LiveConfig,
  nowMs: number,
  useCache: boolean,
  values?: ResponseValues,
): string {
  const { config, version } = live;
  const phase = phaseAt(scheduleOf(config.webinar), nowMs);
  // The giveaway checkbox and band change at its deadline, and attack mode adds the
  // plain form's question, so both are part of the key too.
  const attack = values?.question !== undefined;
  const key = `${version}:${phase}:${giveawayOpenAt(config, nowMs) ? 1 : 0}:${attack ? 1 : 0}`;
  let html = useCache ? landingCache.get(key) : undefined;
  if (!html) {
    html = renderLandingTemplate(shellHtml, live, nowMs, undefined, attack);
    if (useCache) {
      if (landingCache.size >= 8) landingCache.delete(landingCache.keys().next().value!);
      landingCache.set(key, html);
    }
  }
  return fillSlots(html, config, nowMs, values);
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
  const body = staticHtml(o.body);
  const head = headTags({
    title: o.title,
    description: config.seo.description,
    canonicalPath: o.path,
    config,
    noindex: o.noindex,
  });
  return fillShell(shellHtml, { head, body, interactive: false });
}
