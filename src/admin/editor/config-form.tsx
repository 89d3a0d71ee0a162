/**
 * Every field of WebinarConfig as a form, in the order a visitor meets them on the page:
 * webinar, buttons, logo and registration count, topics, speakers (add, remove, reorder,
 * photo), agenda, giveaway, FAQ, form texts, legal, SEO. Pure view: the draft, a setter and the errors come from MarketingApp.
 */
import { For, Index, Show } from 'solid-js';
import type { Speaker, Topic, WebinarConfig } from '../../lib/webinar-config';
import { NumberField, ParagraphsField, TextArea, TextField } from './fields';
import { ItemButtons, ListError, move, optional, textBinding, type Path } from './list-parts';
import type { UploadLogo } from './logo-field';
import { PhotoField, type UploadPhoto } from './photo-field';
import { AgendaForm, BrandForm, FaqForm } from './sections-form';
import type { FieldErrors } from './validation';

export type { Path };

export interface ConfigFormProps {
  draft: WebinarConfig;
  errors: FieldErrors;
  set: (path: Path, value: unknown) => void;
  uploadPhoto: UploadPhoto;
  uploadLogo: UploadLogo;
}

const MAX_TOPICS = 6;
const MAX_SPEAKERS = 12;

function newSpeakerId(existing: Speaker[]): string {
  const taken = new Set(existing.map((s) => s.id));
  for (;;) {
    const id = `referent-${Math.random().toString(36).slice(2, 8)}`;
    if (!taken.has(id)) return id;
  }
}

export function ConfigForm(props: ConfigFormProps) {
  const d = () => props.draft;
  /** A text field's props, all from its path in the draft: name, errors, value, change. */
  const text = textBinding(props);

  return (
    <div class="config-form">
      <section class="card" aria-labelledby="sec-webinar">
        <h2 id="sec-webinar">Webinar</h2>
        <TextField {...text(['webinar', 'eyebrow'])} label="Dachzeile" />
        <TextField {...text(['webinar', 'title'])} label="Titel" />
        <TextArea {...text(['webinar', 'subtitle'])} label="Untertitel" rows={3} />
        <TextField
          {...text(['webinar', 'start'])}
          label="Beginn"
          hint="Datum und Uhrzeit mit Zeitzone, z. B. 2027-03-18T19:00:00+01:00 (Winterzeit +01:00, Sommerzeit +02:00)."
        />
        <NumberField
          path="webinar.durationMinutes"
          errors={props.errors}
          label="Dauer in Minuten"
          min={15}
          max={600}
          value={d().webinar.durationMinutes}
          onInput={(n) => props.set(['webinar', 'durationMinutes'], n)}
        />
        <p class="hint">Zeitzone: Europe/Berlin</p>
        <TextField
          {...text(['webinar', 'joinUrl'])}
          type="url"
          label="Teilnahme-Link"
          hint="Wird nur per E-Mail verschickt, nie auf der Seite gezeigt."
        />
        <TextField
          path="webinar.replayUrl"
          errors={props.errors}
          type="url"
          label="Aufzeichnungs-Link (optional)"
          value={d().webinar.replayUrl}
          onInput={(value) => props.set(['webinar', 'replayUrl'], optional(value))}
        />
      </section>

      <section class="card" aria-labelledby="sec-cta">
        <h2 id="sec-cta">Anmeldeknopf und Zusicherung</h2>
        <TextField {...text(['cta'])} label="Text des Anmeldeknopfs" />
        <TextField {...text(['reassurance'])} label="Zusicherung unter dem Knopf" />
      </section>

      <BrandForm {...props} />

      <section class="card" aria-labelledby="sec-topics">
        <h2 id="sec-topics">Themen</h2>
        <TextField {...text(['topicsHeading'])} label="Überschrift der Themen" />
        <ListError errors={props.errors} path="topics" />
        <ol class="items">
          <Index each={d().topics}>
            {(_topic: () => Topic, i) => (
              <li>
                <fieldset>
                  <legend>Thema {i + 1}</legend>
                  <TextField {...text(['topics', i, 'title'])} label="Titel" />
                  <TextArea {...text(['topics', i, 'description'])} label="Beschreibung" />
                  <ItemButtons
                    index={i}
                    count={d().topics.length}
                    minCount={1}
                    what={`Thema ${i + 1}`}
                    onMove={(to) => props.set(['topics'], move(d().topics, i, to))}
                    onRemove={() =>
                      props.set(
                        ['topics'],
                        d().topics.filter((_, k) => k !== i),
                      )
                    }
                  />
                </fieldset>
              </li>
            )}
          </Index>
        </ol>
        <button
          type="button"
          class="secondary"
          disabled={d().topics.length >= MAX_TOPICS}
          onClick={() => props.set(['topics'], [...d().topics, { title: '', description: '' }])}
        >
          Thema hinzufügen
        </button>
      </section>

      <section class="card" aria-labelledby="sec-speakers">
        <h2 id="sec-speakers">Referenten</h2>
        <TextField {...text(['speakersHeading'])} label="Überschrift der Referenten" />
        <ListError errors={props.errors} path="speakers" />
        <ol class="items">
          <Index each={d().speakers}>
            {(speaker: () => Speaker, i) => (
              <li>
                <fieldset>
                  <legend>
                    Referent {i + 1}
                    <Show when={speaker().name.trim()}>: {speaker().name}</Show>
                  </legend>
                  <TextField {...text(['speakers', i, 'name'])} label="Name" />
                  <TextField {...text(['speakers', i, 'role'])} label="Rolle" />
                  <TextArea {...text(['speakers', i, 'bio'])} label="Kurzbiografie" />
                  <PhotoField
                    path={`speakers.${i}.photo`}
                    errors={props.errors}
                    speakerName={speaker().name}
                    photo={speaker().photo}
                    upload={props.uploadPhoto}
                    onChange={(photo) => props.set(['speakers', i, 'photo'], photo)}
                  />
                  <ItemButtons
                    index={i}
                    count={d().speakers.length}
                    minCount={1}
                    what={speaker().name || `Referent ${i + 1}`}
                    onMove={(to) => props.set(['speakers'], move(d().speakers, i, to))}
                    onRemove={() =>
                      props.set(
                        ['speakers'],
                        d().speakers.filter((_, k) => k !== i),
                      )
                    }
                  />
                </fieldset>
              </li>
            )}
          </Index>
        </ol>
        <button
          type="button"
          class="secondary"
          disabled={d().speakers.length >= MAX_SPEAKERS}
          onClick={() =>
            props.set(
              ['speakers'],
              [...d().speakers, { id: newSpeakerId(d().speakers), name: '', role: '', bio: '' }],
            )
          }
        >
          Referent hinzufügen
        </button>
      </section>

      <AgendaForm {...props} />

      <section class="card" aria-labelledby="sec-giveaway">
        <h2 id="sec-giveaway">Gewinnspiel</h2>
        <TextField {...text(['giveaway', 'headline'])} label="Überschrift" />
        <TextArea {...text(['giveaway', 'prize'])} label="Preis" />
        <TextField
          {...text(['giveaway', 'deadline'])}
          label="Teilnahmeschluss"
          hint="Datum und Uhrzeit mit Zeitzone, z. B. 2027-03-18T23:59:59+01:00. Die Seite und die Teilnahmebedingungen nennen ihn von selbst; danach zeigt die Seite „Gewinnspiel beendet“."
        />
        <ParagraphsField
          path="giveaway.terms"
          errors={props.errors}
          label="Teilnahmebedingungen"
          hint="Absätze durch eine Leerzeile trennen. Den Teilnahmeschluss nicht wiederholen: Er steht aus dem Feld oben über den Bedingungen."
          value={d().giveaway.terms}
          onInput={(list) => props.set(['giveaway', 'terms'], list)}
        />
      </section>

      <FaqForm {...props} />

      <section class="card" aria-labelledby="sec-form">
        <h2 id="sec-form">Formulartexte</h2>
        <TextField {...text(['form', 'heading'])} label="Überschrift des Formulars" />
        <TextArea {...text(['form', 'privacyLabel'])} label="Datenschutz-Einwilligung" />
        <TextArea {...text(['form', 'giveawayLabel'])} label="Gewinnspiel-Teilnahme" />
        <TextArea {...text(['form', 'newsletterLabel'])} label="Newsletter-Einwilligung" />
        <TextField
          {...text(['form', 'consentVersion'])}
          label="Version der Einwilligungstexte"
          hint="Bitte erhöhen, sobald sich einer der drei Einwilligungstexte ändert (wird mit jeder Einwilligung gespeichert)."
        />
        <TextField {...text(['form', 'thankYouHeading'])} label="Überschrift der Bestätigung" />
        <TextArea {...text(['form', 'thankYouText'])} label="Text der Bestätigung" />
        <TextField
          {...text(['form', 'replayHeading'])}
          label="Überschrift nach dem Webinar (Aufzeichnung anfordern)"
        />
      </section>

      <section class="card" aria-labelledby="sec-legal">
        <h2 id="sec-legal">Impressum und Datenschutz</h2>
        <TextField {...text(['legal', 'company'])} label="Firma" />
        <TextField {...text(['legal', 'representative'])} label="Vertretungsberechtigt" />
        <TextField {...text(['legal', 'street'])} label="Straße und Hausnummer" />
        <TextField {...text(['legal', 'postalCode'])} label="Postleitzahl" />
        <TextField {...text(['legal', 'city'])} label="Ort" />
        <TextField {...text(['legal', 'country'])} label="Land" />
        <TextField {...text(['legal', 'email'])} type="email" label="Kontakt-E-Mail" />
        <For
          each={
            [
              ['phone', 'Telefon (optional)'],
              ['register', 'Registereintrag (optional)'],
              ['vatId', 'USt-IdNr. (optional)'],
            ] as const
          }
        >
          {([key, label]) => (
            <TextField
              path={`legal.${key}`}
              errors={props.errors}
              label={label}
              value={d().legal[key]}
              onInput={(value) => props.set(['legal', key], optional(value))}
            />
          )}
        </For>
        <ParagraphsField
          path="legal.privacy"
          errors={props.errors}
          label="Datenschutzhinweise"
          rows={12}
          value={d().legal.privacy}
          onInput={(list) => props.set(['legal', 'privacy'], list)}
        />
      </section>

      <section class="card" aria-labelledby="sec-seo">
        <h2 id="sec-seo">Suchmaschinen (SEO)</h2>
        <TextField {...text(['seo', 'title'])} label="Seitentitel" />
        <TextArea {...text(['seo', 'description'])} label="Beschreibung" />
        <TextField {...text(['seo', 'siteUrl'])} type="url" label="Adresse der Seite" />
      </section>
    </div>
  );
}
