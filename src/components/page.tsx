/**
 * The landing page's static sections, rendered by the worker. Islands (countdown, form)
 * are rendered separately and passed in as HTML, so only they ship JavaScript.
 */
import { For, Show, type JSX } from 'solid-js';
import type { WebinarConfig } from '../lib/webinar-config';
import { formatGermanDate, formatGermanTime, scheduleOf, type Phase } from '../lib/schedule';
import { Avatar } from './avatar';
import { Island, type IslandMarkup } from './island';

export interface LandingPageProps {
  config: WebinarConfig;
  phase: Phase;
  /** Server-rendered islands (trusted: our own renderToString output). */
  countdown: IslandMarkup;
  form: IslandMarkup;
}

export function LandingPage(props: LandingPageProps) {
  const c = () => props.config;
  const start = () => scheduleOf(c().webinar).startMs;
  return (
    <>
      <header class="hero">
        <div class="wrap">
          <p class="eyebrow">
            <Show when={props.phase === 'live'} fallback={c().webinar.eyebrow}>
              <span class="live-dot" aria-hidden="true" /> Jetzt live
            </Show>
          </p>
          <h1>{c().webinar.title}</h1>
          <p class="lead">{c().webinar.subtitle}</p>
          <p class="when">
            <time datetime={c().webinar.start}>
              <span>{formatGermanDate(start())}</span>
              <span>{formatGermanTime(start())}</span>
            </time>
          </p>
          <Show when={props.phase === 'before'}>
            <Island name="countdown" markup={props.countdown} />
          </Show>
          <Show when={props.phase === 'live'}>
            <p class="phase-note">
              Das Webinar läuft gerade. Melden Sie sich jetzt an – Sie erhalten den Zugang sofort per E-Mail.
            </p>
          </Show>
          <Show when={props.phase === 'after'}>
            <p class="phase-note">
              Das Webinar hat bereits stattgefunden. Fordern Sie jetzt kostenlos die Aufzeichnung an.
            </p>
          </Show>
          <a class="cta" href="#anmeldung">
            {props.phase === 'after' ? 'Aufzeichnung anfordern' : c().cta}
          </a>
          <p class="reassure">{c().reassurance}</p>
        </div>
      </header>
      <main>
        <section class="topics wrap" aria-labelledby="topics-h">
          <h2 id="topics-h">{c().topicsHeading}</h2>
          <ol class="cards">
            <For each={c().topics}>
              {(topic) => (
                <li class="card">
                  <h3>{topic.title}</h3>
                  <p>{topic.description}</p>
                </li>
              )}
            </For>
          </ol>
        </section>
        <section class="speakers wrap" aria-labelledby="speakers-h">
          <h2 id="speakers-h">{c().speakersHeading}</h2>
          <ul class="grid">
            <For each={c().speakers}>
              {(speaker) => (
                <li class="speaker">
                  <Avatar speaker={speaker} />
                  <div>
                    <h3>{speaker.name}</h3>
                    <p class="role">{speaker.role}</p>
                    <p class="bio">{speaker.bio}</p>
                  </div>
                </li>
              )}
            </For>
          </ul>
        </section>
        <section class="giveaway" aria-labelledby="giveaway-h">
          <div class="wrap">
            <h2 id="giveaway-h">{c().giveaway.headline}</h2>
            <p>{c().giveaway.prize}</p>
            <p class="small">
              Teilnahmeschluss: {formatGermanDate(Date.parse(c().giveaway.deadline))},{' '}
              {formatGermanTime(Date.parse(c().giveaway.deadline))}.{' '}
              <a href="/teilnahmebedingungen">Teilnahmebedingungen</a>
            </p>
          </div>
        </section>
        <section id="anmeldung" class="register wrap" aria-labelledby="register-h">
          <h2 id="register-h">{props.phase === 'after' ? c().form.replayHeading : c().form.heading}</h2>
          <p class="reassure">{c().reassurance}</p>
          <Island name="form" markup={props.form} />
        </section>
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
