/**
 * Published versions, newest first: when, who, what changed; any older one can be
 * restored (which publishes it again as a new version, after a confirmation step).
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

export function HistoryPanel(props: {
  entries: HistoryEntry[];
  current: number;
  busy: boolean;
  onRollback: (version: number) => void;
}) {
  const [confirming, setConfirming] = createSignal<number | null>(null);
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
                  <Show
                    when={confirming() === entry.version}
                    fallback={
                      <button type="button" class="secondary" onClick={() => setConfirming(entry.version)}>
                        Version {entry.version} wiederherstellen
                      </button>
                    }
                  >
                    <div class="row" role="group" aria-label={`Version ${entry.version} wiederherstellen?`}>
                      <span>Version {entry.version} als neue Version veröffentlichen?</span>
                      <button
                        type="button"
                        disabled={props.busy}
                        onClick={() => {
                          setConfirming(null);
                          props.onRollback(entry.version);
                        }}
                      >
                        Ja, wiederherstellen
                      </button>
                      <button type="button" class="secondary" onClick={() => setConfirming(null)}>
                        Abbrechen
                      </button>
                    </div>
                  </Show>
                </Show>
              </li>
            )}
          </For>
          <Show when={props.current !== 0}>
            <li>
              <p>
                <strong>Version 0</strong> · Standardinhalt aus dem Repository
              </p>
              <Show
                when={confirming() === 0}
                fallback={
                  <button type="button" class="secondary" onClick={() => setConfirming(0)}>
                    Version 0 wiederherstellen
                  </button>
                }
              >
                <div class="row" role="group" aria-label="Version 0 wiederherstellen?">
                  <span>Den Standardinhalt als neue Version veröffentlichen?</span>
                  <button
                    type="button"
                    disabled={props.busy}
                    onClick={() => {
                      setConfirming(null);
                      props.onRollback(0);
                    }}
                  >
                    Ja, wiederherstellen
                  </button>
                  <button type="button" class="secondary" onClick={() => setConfirming(null)}>
                    Abbrechen
                  </button>
                </div>
              </Show>
            </li>
          </Show>
        </ol>
      </Show>
    </section>
  );
}
