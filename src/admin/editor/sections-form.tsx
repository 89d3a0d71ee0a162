/**
 * The editor's parts for the sections added after the first release: agenda, FAQ, the
 * host's logo and the "Bereits N Anmeldungen" line. Configs from before them may lack
 * them (the schema fills in defaults), so each part writes its whole object when it
 * changes, never a path into an object that might not be there yet.
 */
import { Index, Show } from 'solid-js';
import type { AgendaItem, FaqItem, WebinarConfig } from '../../lib/webinar-config';
import { CheckboxField, NumberField, TextArea, TextField } from './fields';
import { ItemButtons, ListError, move, optional, textBinding, type FormBinding } from './list-parts';
import { LogoField, type UploadLogo } from './logo-field';

const MAX_ITEMS = 20;

type SectionsProps = FormBinding & { draft: WebinarConfig };

const agendaOf = (c: WebinarConfig) => c.agenda ?? { heading: 'Ablauf', items: [] };
const faqOf = (c: WebinarConfig) => c.faq ?? { heading: 'Häufige Fragen', items: [] };
const countOf = (c: WebinarConfig) => c.registrationCount ?? { show: false, minimum: 100 };

export function AgendaForm(props: SectionsProps) {
  const text = textBinding(props);
  const agenda = () => agendaOf(props.draft);
  const setItems = (items: AgendaItem[]) => props.set(['agenda'], { ...agenda(), items });
  return (
    <section class="card" aria-labelledby="sec-agenda">
      <h2 id="sec-agenda">Ablauf</h2>
      <TextField
        {...text(['agenda', 'heading'])}
        value={agenda().heading}
        onInput={(heading) => props.set(['agenda'], { ...agenda(), heading })}
        label="Überschrift des Ablaufs"
        hint="Ohne Programmpunkte erscheint der Abschnitt nicht auf der Seite."
      />
      <ListError errors={props.errors} path="agenda.items" />
      <ol class="items">
        <Index each={agenda().items}>
          {(item, i) => (
            <li>
              <fieldset>
                <legend>
                  Programmpunkt {i + 1}
                  <Show when={item().time}>: {item().time} Uhr</Show>
                </legend>
                <TextField
                  {...text(['agenda', 'items', i, 'time'])}
                  label="Uhrzeit"
                  hint="HH:MM, deutsche Zeit, z. B. 19:30."
                />
                <TextField {...text(['agenda', 'items', i, 'title'])} label="Programmpunkt" />
                <TextArea
                  {...text(['agenda', 'items', i, 'description'])}
                  onInput={(value) => props.set(['agenda', 'items', i, 'description'], optional(value))}
                  label="Beschreibung (optional)"
                  rows={2}
                />
                <ItemButtons
                  index={i}
                  count={agenda().items.length}
                  minCount={0}
                  what={`Programmpunkt ${i + 1}`}
                  onMove={(to) => setItems(move(agenda().items, i, to))}
                  onRemove={() => setItems(agenda().items.filter((_, k) => k !== i))}
                />
              </fieldset>
            </li>
          )}
        </Index>
      </ol>
      <button
        type="button"
        class="secondary"
        disabled={agenda().items.length >= MAX_ITEMS}
        onClick={() => setItems([...agenda().items, { time: '', title: '' }])}
      >
        Programmpunkt hinzufügen
      </button>
    </section>
  );
}

export function FaqForm(props: SectionsProps) {
  const text = textBinding(props);
  const faq = () => faqOf(props.draft);
  const setItems = (items: FaqItem[]) => props.set(['faq'], { ...faq(), items });
  return (
    <section class="card" aria-labelledby="sec-faq">
      <h2 id="sec-faq">Häufige Fragen</h2>
      <TextField
        {...text(['faq', 'heading'])}
        value={faq().heading}
        onInput={(heading) => props.set(['faq'], { ...faq(), heading })}
        label="Überschrift der häufigen Fragen"
        hint="Besucher öffnen jede Antwort mit einem Klick, auch ohne JavaScript. Ohne Fragen erscheint der Abschnitt nicht."
      />
      <ListError errors={props.errors} path="faq.items" />
      <ol class="items">
        <Index each={faq().items}>
          {(_item, i) => (
            <li>
              <fieldset>
                <legend>Frage {i + 1}</legend>
                <TextField {...text(['faq', 'items', i, 'question'])} label="Frage" />
                <TextArea {...text(['faq', 'items', i, 'answer'])} label="Antwort" rows={4} />
                <ItemButtons
                  index={i}
                  count={faq().items.length}
                  minCount={0}
                  what={`Frage ${i + 1}`}
                  onMove={(to) => setItems(move(faq().items, i, to))}
                  onRemove={() => setItems(faq().items.filter((_, k) => k !== i))}
                />
              </fieldset>
            </li>
          )}
        </Index>
      </ol>
      <button
        type="button"
        class="secondary"
        disabled={faq().items.length >= MAX_ITEMS}
        onClick={() => setItems([...faq().items, { question: '', answer: '' }])}
      >
        Frage hinzufügen
      </button>
    </section>
  );
}

export function BrandForm(props: SectionsProps & { uploadLogo: UploadLogo }) {
  const count = () => countOf(props.draft);
  return (
    <section class="card" aria-labelledby="sec-brand">
      <h2 id="sec-brand">Logo und Anmeldezahl</h2>
      <LogoField
        errors={props.errors}
        logo={props.draft.logo}
        company={props.draft.legal.company}
        upload={props.uploadLogo}
        onChange={(logo) => props.set(['logo'], logo)}
      />
      <CheckboxField
        path="registrationCount.show"
        errors={props.errors}
        label="„Bereits N Anmeldungen“ zeigen"
        hint="Die Zahl der bestätigten Anmeldungen, nie eine geschätzte; sie wird höchstens jede Minute neu gezählt."
        checked={count().show}
        onChange={(show) => props.set(['registrationCount'], { ...count(), show })}
      />
      <NumberField
        path="registrationCount.minimum"
        errors={props.errors}
        label="Erst ab so vielen Anmeldungen zeigen"
        min={0}
        value={count().minimum}
        onInput={(minimum) => props.set(['registrationCount'], { ...count(), minimum })}
      />
    </section>
  );
}
