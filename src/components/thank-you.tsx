/**
 * What a visitor sees once registered: the thank-you text and "add to calendar". Rendered
 * only by the worker: on /danke (the plain form post) and, as HTML handed to the form
 * island, for the no-reload submit, so none of it ships as JavaScript.
 */
import { Show } from 'solid-js';
import type { CalendarLinks } from '../lib/calendar';

/** "Add to calendar": the .ics download and the two web calendars most visitors use. */
export function CalendarButtons(props: { links: CalendarLinks | null }) {
  return (
    <Show when={props.links}>
      {(links) => (
        <div class="cal">
          <p class="cal-title">Termin in Ihren Kalender eintragen:</p>
          <ul>
            <li>
              <a class="btn" href={links().ics} download="webinar.ics">
                Apple / Outlook (.ics)
              </a>
            </li>
            <li>
              <a class="btn" href={links().google} target="_blank" rel="noopener">
                Google Kalender
              </a>
            </li>
            <li>
              <a class="btn" href={links().outlook} target="_blank" rel="noopener">
                Outlook.com
              </a>
            </li>
          </ul>
        </div>
      )}
    </Show>
  );
}

/** The form's done state; its heading takes focus when the island shows it. */
export function ThankYou(props: { heading: string; text: string; calendar: CalendarLinks | null }) {
  return (
    <>
      <h3 tabindex="-1">{props.heading}</h3>
      <p>{props.text}</p>
      <CalendarButtons links={props.calendar} />
    </>
  );
}
