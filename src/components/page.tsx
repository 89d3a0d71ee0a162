/**
 * The landing page, rendered by the worker: a hero with the registration form beside the
 * title on wide screens (below it on phones), the content sections, a register button
 * that stays in reach on phones, the footer. Islands (the form) are rendered separately
 * and passed in as HTML, so only they ship JavaScript; slots (countdown, registration
 * count) are filled per response by worker/render.tsx.
 */
import { For, Show, type JSX } from 'solid-js';
import type { WebinarConfig } from '../lib/webinar-config';
import { formatGermanDate, formatGermanDateTime, formatGermanTime, type Phase } from '../lib/schedule';
import { Avatar } from './avatar';
import { Countdown } from './countdown';
import { Island, type IslandMarkup } from './island';
import { AgendaSection, FaqSection, GiveawaySection, SpeakersSection, TopicsSection } from './sections';

/** Replaced per response with "Bereits N Anmeldungen" or nothing (worker/render.tsx). */
export const REGISTRATIONS_SLOT = '<!--app-registrations-->';

/** "Bereits 1.234 Anmeldungen"; singular for one. */
export function registrationsLine(n: number): string {
  return `Bereits ${n.toLocaleString('de-DE')} ${n === 1 ? 'Anmeldung' : 'Anmeldungen'}`;
}

/** "Mit A, B, C und 3 weiteren Referenten" */
export function speakerNames(names: string[]): string {
  if (names.length <= 1) return `Mit ${names.join('')}`;
  if (names.length <= 3) return `Mit ${names.slice(0, -1).join(', ')} und ${names[names.length - 1]}`;
  const rest = names.length - 3;
  return `Mit ${names.slice(0, 3).join(', ')} und ${rest} weiteren Referenten`;
}

/** Wide screens: who speaks, beside the form, where the hero would otherwise end early. */
function SpeakerTeaser(props: { config: WebinarConfig }) {
  return (
    <p class="with">
      <span class="faces" aria-hidden="true">
        <For each={props.config.speakers.slice(0, 4)}>{(speaker) => <Avatar speaker={speaker} small />}</For>
      </span>
      <span>{speakerNames(props.config.speakers.map((s) => s.name))}</span>
    </p>
  );
}

export interface LandingPageProps {
  config: WebinarConfig;
  phase: Phase;
  /** False once the giveaway's deadline has passed. */
  giveawayOpen: boolean;
  /** Server-rendered island (trusted: our own renderToString output). */
  form: IslandMarkup;
}

export function LandingPage(props: LandingPageProps) {
  const c = () => props.config;
  const start = () => Date.parse(c().webinar.start);
  const cta = () => (props.phase === 'after' ? 'Aufzeichnung anfordern' : c().cta);
  return (
    <>
      <Show when={c().logo}>
        {(logo) => (
          <header class="top">
            <div class="wrap">
              <img
                class="logo"
                src={`/media/${logo().hash}`}
                width={Math.round(logo().width / 2)}
                height={Math.round(logo().height / 2)}
                alt={c().legal.company}
              />
            </div>
          </header>
        )}
      </Show>
      <main>
        <section class="hero" aria-labelledby="title">
          <div class="wrap hero-grid">
            <div class="hero-text">
              <p class="eyebrow">
                <Show when={props.phase === 'live'} fallback={c().webinar.eyebrow}>
                  <span class="live-dot" aria-hidden="true" /> Jetzt live
                </Show>
              </p>
              <h1 id="title">{c().webinar.title}</h1>
              <p class="lead">{c().webinar.subtitle}</p>
              <p class="when">
                <time datetime={c().webinar.start}>
                  <span>{formatGermanDate(start())}</span>
                  <span>{formatGermanTime(start())}</span>
                </time>
              </p>
              <Show when={props.phase === 'before'}>
                <Countdown />
              </Show>
              <Show when={props.phase !== 'before'}>
                <p class="phase-note">
                  {props.phase === 'live'
                    ? 'Das Webinar läuft gerade. Melden Sie sich jetzt an – Sie erhalten den Zugang sofort per E-Mail.'
                    : 'Das Webinar hat bereits stattgefunden. Fordern Sie jetzt kostenlos die Aufzeichnung an.'}
                </p>
              </Show>
              <SpeakerTeaser config={c()} />
              <Show when={c().registrationCount.show}>
                <p class="proof" innerHTML={REGISTRATIONS_SLOT} />
              </Show>
              {/* Phones only: on wide screens the form itself is beside the title. */}
              <div class="hero-cta">
                <a class="cta" href="#anmeldung">
                  {cta()}
                </a>
                <p class="reassure">{c().reassurance}</p>
              </div>
            </div>
            <section id="anmeldung" class="form-card" aria-labelledby="register-h">
              <h2 id="register-h">{props.phase === 'after' ? c().form.replayHeading : c().form.heading}</h2>
              <Island name="form" markup={props.form} />
              <p class="reassure">{c().reassurance}</p>
            </section>
          </div>
        </section>
        <div class="more">
          <TopicsSection config={c()} />
          <AgendaSection config={c()} />
          <SpeakersSection config={c()} />
          <GiveawaySection config={c()} open={props.giveawayOpen} />
          <FaqSection config={c()} />
          {/* Sticky on phones: it never leaves this block, so it cannot cover the form above
              or the footer links below (and it needs no script to do so). */}
          <p class="sticky-cta">
            <a class="cta" href="#anmeldung">
              {cta()}
            </a>
          </p>
        </div>
      </main>
      <SiteFooter config={c()} />
    </>
  );
}

export function SiteFooter(props: { config: WebinarConfig }) {
  return (
    <footer class="foot">
      <div class="wrap">
        <nav aria-label="Rechtliches">
          <a href="/impressum">Impressum</a>
          <a href="/datenschutz">Datenschutz</a>
          <a href="/teilnahmebedingungen">Teilnahmebedingungen</a>
        </nav>
        <p>
          © {new Date(props.config.webinar.start).getFullYear()} {props.config.legal.company}
        </p>
      </div>
    </footer>
  );
}

/** A simple page (legal texts, thank-you, errors) in the site's frame. */
export function SimplePage(props: { config: WebinarConfig; heading: string; children: JSX.Element }) {
  return (
    <>
      <header class="bar">
        <div class="wrap">
          <a href="/" class="home">
            ← {props.config.webinar.title}
          </a>
        </div>
      </header>
      <main class="wrap prose">
        <h1>{props.heading}</h1>
        {props.children}
      </main>
      <SiteFooter config={props.config} />
    </>
  );
}

export function Paragraphs(props: { items: string[] }) {
  return <For each={props.items}>{(p) => <p>{p}</p>}</For>;
}

/** The giveaway's terms; the deadline comes from its field, never from the text. */
export function TermsPage(props: { config: WebinarConfig; nowMs: number }) {
  const g = () => props.config.giveaway;
  const deadline = () => Date.parse(g().deadline);
  return (
    <SimplePage config={props.config} heading={`Teilnahmebedingungen: ${g().headline}`}>
      <p>
        <strong>Teilnahmeschluss:</strong> {formatGermanDateTime(deadline())}
        {props.nowMs >= deadline() ? ' – das Gewinnspiel ist beendet.' : '.'}
      </p>
      <Paragraphs items={g().terms} />
    </SimplePage>
  );
}

export function ImprintPage(props: { config: WebinarConfig }) {
  const l = () => props.config.legal;
  return (
    <SimplePage config={props.config} heading="Impressum">
      <h2>Angaben gemäß § 5 DDG</h2>
      <p>
        {l().company}
        <br />
        {l().street}
        <br />
        {l().postalCode} {l().city}
        <br />
        {l().country}
      </p>
      <p>Vertreten durch: {l().representative}</p>
      <h2>Kontakt</h2>
      <p>
        E-Mail: <a href={`mailto:${l().email}`}>{l().email}</a>
        <Show when={l().phone}>
          <br />
          Telefon: {l().phone}
        </Show>
      </p>
      <Show when={l().register}>
        <h2>Registereintrag</h2>
        <p>{l().register}</p>
      </Show>
      <Show when={l().vatId}>
        <h2>Umsatzsteuer-ID</h2>
        <p>Umsatzsteuer-Identifikationsnummer gemäß § 27 a UStG: {l().vatId}</p>
      </Show>
    </SimplePage>
  );
}
