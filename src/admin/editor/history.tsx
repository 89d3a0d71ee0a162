/**
 * Published versions, newest first: when, who, what changed; any older one can be
 * restored (which publishes it again as a new version, after a confirmation step).
 * Version 0 is the repo's default content.
 */
import { createSignal, For, Show } from 'solid-js';
import type { HistoryEntry } from './api';

const when = (iso: string) =>
  iso
    ? new Intl.DateTimeFormat('de-DE', {
        dateStyle: 'medium',
        timeStyle: 'short',
        timeZone: 'Europe/Berlin',
      }).format(new Date(iso))
    : '–';

const who = (id: string) => (id === 'token:marketing' ? 'Marketing (Zugangsschlüssel)' : id);

/** "Restore" button that asks once more before publishing an old version again. */
function RestoreControl(props: {
  version: number;
  question: string;
  confirming: boolean;
  busy: boolean;
  onAsk: () => void;
  onCancel: () => void;
  onConfirm: () => void;
}) {
  return (
    <Show
      when={props.confirming}
      fallback={
        <button type="button" class="secondary" onClick={() => props.onAsk()}>
          Version {props.version} wiederherstellen
        </button>
      }
    >
      <div class="row" role="group" aria-label={`Version ${props.version} wiederherstellen?`}>
        <span>{props.question}</span>
        <button type="button" disabled={props.busy} onClick={() => props.onConfirm()}>
          Ja, wiederherstellen
        </button>
        <button type="button" class="secondary" onClick={() => props.onCancel()}>
          Abbrechen
        </button>
      </div>
    </Show>
  );
}

export function HistoryPanel(props: {
  entries: HistoryEntry[];
  current: number;
  busy: boolean;
  onRollback: (version: number) => void;
}) {
  const [confirming, setConfirming] = createSignal<number | null>(null);
  const restore = (version: number, question: string) => (
    <RestoreControl
      version={version}
      question={question}
      confirming={confirming() === version}
      busy={props.busy}
      onAsk={() => setConfirming(version)}
      onCancel={() => setConfirming(null)}
      onConfirm={() => {
        setConfirming(null);
        props.onRollback(version);
      }}
    />
  );
  return (
    <section class="card" aria-labelledby="sec-history">
      <h2 id="sec-history">Verlauf</h2>
      <Show
        when={props.entries.length}
        fallback={<p>Noch nichts veröffentlicht: Die Seite zeigt den Standardinhalt.</p>}
      >
        <ol class="history">
          <For each={props.entries}>
            {(entry) => (
              <li>
                <p>
                  <strong>Version {entry.version}</strong>
                  <Show when={entry.version === props.current}> (aktuell)</Show> · {when(entry.publishedAt)} ·{' '}
                  {who(entry.publishedBy)}
                </p>
                <p class="hint">{entry.summary}</p>
                <Show when={entry.version !== props.current}>
                  {restore(entry.version, `Version ${entry.version} als neue Version veröffentlichen?`)}
                </Show>
              </li>
            )}
          </For>
          <Show when={props.current !== 0}>
            <li>
              <p>
                <strong>Version 0</strong> · Standardinhalt aus dem Repository
              </p>
              {restore(0, 'Den Standardinhalt als neue Version veröffentlichen?')}
            </li>
          </Show>
        </ol>
      </Show>
    </section>
  );
}
