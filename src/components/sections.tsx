/**
 * The landing page's content sections below the hero, each from its part of the config.
 * Server-rendered only: none of them ships JavaScript. Sections whose list is empty
 * (agenda, FAQ) are left out, so a config from before they existed renders as it did.
 */
import { For, Show } from 'solid-js';
import type { WebinarConfig } from '../lib/webinar-config';
import { formatGermanDateTime } from '../lib/schedule';
import { Avatar } from './avatar';

type Props = { config: WebinarConfig };

export function TopicsSection(props: Props) {
  return (
    <section class="section" aria-labelledby="topics-h">
      <div class="wrap">
        <h2 id="topics-h">{props.config.topicsHeading}</h2>
        <ol class="cards">
          <For each={props.config.topics}>
            {(topic) => (
              <li class="card">
                <h3>{topic.title}</h3>
                <p>{topic.description}</p>
              </li>
            )}
          </For>
        </ol>
      </div>
    </section>
  );
}

export function AgendaSection(props: Props) {
  return (
    <Show when={props.config.agenda.items.length}>
      <section class="section alt" aria-labelledby="agenda-h">
        <div class="wrap narrow">
          <h2 id="agenda-h">{props.config.agenda.heading}</h2>
          <ol class="agenda">
            <For each={props.config.agenda.items}>
              {(item) => (
                <li>
                  <span class="at">{item.time} Uhr</span>
                  <div>
                    <h3>{item.title}</h3>
                    <Show when={item.description}>
                      <p>{item.description}</p>
                    </Show>
                  </div>
                </li>
              )}
            </For>
          </ol>
        </div>
      </section>
    </Show>
  );
}

export function SpeakersSection(props: Props) {
  return (
    <section class="section" aria-labelledby="speakers-h">
      <div class="wrap">
        <h2 id="speakers-h">{props.config.speakersHeading}</h2>
        <ul class="grid">
          <For each={props.config.speakers}>
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
      </div>
    </section>
  );
}

/** The prize band while entries are open; afterwards it says the giveaway has ended. */
export function GiveawaySection(props: Props & { open: boolean }) {
  const g = () => props.config.giveaway;
  const deadline = () => formatGermanDateTime(Date.parse(g().deadline));
  return (
    <section class="section band" aria-labelledby="giveaway-h">
      <div class="wrap narrow">
        <Show
          when={props.open}
          fallback={
            <>
              <h2 id="giveaway-h">Gewinnspiel beendet</h2>
              <p>
                Teilnahmeschluss war {deadline()}. Die Gewinner werden per E-Mail benachrichtigt. Vielen Dank
                an alle, die mitgemacht haben.
              </p>
            </>
          }
        >
          <h2 id="giveaway-h">{g().headline}</h2>
          <p>{g().prize}</p>
        </Show>
        <p class="small">
          <Show when={props.open}>Teilnahmeschluss: {deadline()}. </Show>
          <a href="/teilnahmebedingungen">Teilnahmebedingungen</a>
        </p>
      </div>
    </section>
  );
}

export function FaqSection(props: Props) {
  return (
    <Show when={props.config.faq.items.length}>
      <section class="section alt" aria-labelledby="faq-h">
        <div class="wrap narrow">
          <h2 id="faq-h">{props.config.faq.heading}</h2>
          <div class="faq">
            <For each={props.config.faq.items}>
              {(item) => (
                <details>
                  <summary>{item.question}</summary>
                  <p>{item.answer}</p>
                </details>
              )}
            </For>
          </div>
        </div>
      </section>
    </Show>
  );
}
