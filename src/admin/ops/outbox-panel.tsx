/**
 * Mail delivery for ops: the dead letters (mail jobs that failed for good, with their
 * reason and a "retry" button) and, in local development only, the outbox of sent mails
 * with their links, so a developer can click through the double opt-in.
 * Data: `/api/admin/mail/dead-letters` and `/api/admin/dev/outbox` (worker/routes/admin-mail.ts).
 */
import { createResource, createSignal, For, Show } from 'solid-js';
import { adminFetch, errorText, type AdminSession } from '../sign-in';

interface DeadLetterView {
  key: string;
  kind: string;
  reason: string;
  attempts: number;
  failedAt: string;
}

interface OutboxMailView {
  to: string;
  subject: string;
  text: string;
  sentAt: string;
  kind: string;
  links: string[];
}

const KIND_LABEL: Record<string, string> = {
  confirm: 'Bestätigung',
  welcome: 'Willkommen',
  reminder24h: 'Erinnerung 24 h',
  reminder1h: 'Erinnerung 1 h',
  replay: 'Aufzeichnung',
};

const tf = new Intl.DateTimeFormat('de-DE', {
  dateStyle: 'medium',
  timeStyle: 'medium',
  timeZone: 'Europe/Berlin',
});
const when = (iso: string) => (iso ? tf.format(new Date(iso)) : '–');

export function MailPanels(props: { session: AdminSession }) {
  return (
    <>
      <DeadLetterPanel session={props.session} />
      <OutboxPanel session={props.session} />
    </>
  );
}

function DeadLetterPanel(props: { session: AdminSession }) {
  const [message, setMessage] = createSignal<{ ok: boolean; text: string } | null>(null);
  const [letters, { refetch }] = createResource(async () => {
    const res = await adminFetch(props.session, '/api/admin/mail/dead-letters');
    if (!res.ok) throw new Error(await errorText(res));
    return ((await res.json()) as { entries: DeadLetterView[] }).entries;
  });
  async function retry(key: string) {
    setMessage(null);
    const res = await adminFetch(props.session, '/api/admin/mail/dead-letters/retry', {
      method: 'POST',
      body: JSON.stringify({ key }),
    });
    setMessage(
      res.ok
        ? { ok: true, text: 'Der Auftrag ist wieder in der Warteschlange.' }
        : { ok: false, text: await errorText(res) },
    );
    refetch();
  }
  return (
    <section class="card" aria-labelledby="dlq-heading">
      <h2 id="dlq-heading">Fehlgeschlagene E-Mails</h2>
      <p id="dlq-result" role="status" class={message()?.ok ? 'success' : 'error'}>
        {message()?.text ?? ''}
      </p>
      <Show when={!letters.error} fallback={<p class="error">{String(letters.error?.message ?? '')}</p>}>
        <Show when={letters()} fallback={<p>Lädt …</p>}>
          {(list) => (
            <Show when={list().length > 0} fallback={<p>Keine fehlgeschlagenen E-Mails.</p>}>
              <table>
                <caption class="sr-only">Fehlgeschlagene E-Mail-Aufträge</caption>
                <thead>
                  <tr>
                    <th scope="col">Art</th>
                    <th scope="col">Grund</th>
                    <th scope="col">Versuche</th>
                    <th scope="col">Zuletzt</th>
                    <th scope="col">
                      <span class="sr-only">Aktion</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  <For each={list()}>
                    {(l) => (
                      <tr>
                        <td>{KIND_LABEL[l.kind] ?? l.kind}</td>
                        <td>{l.reason}</td>
                        <td>{l.attempts}</td>
                        <td>{when(l.failedAt)}</td>
                        <td>
                          <button type="button" onClick={() => retry(l.key)} aria-describedby="dlq-result">
                            Erneut senden
                          </button>
                        </td>
                      </tr>
                    )}
                  </For>
                </tbody>
              </table>
            </Show>
          )}
        </Show>
      </Show>
    </section>
  );
}

function OutboxPanel(props: { session: AdminSession }) {
  // 404 = the outbox is off (every deployment): then this panel does not appear at all.
  const [mails, { refetch }] = createResource(async () => {
    const res = await adminFetch(props.session, '/api/admin/dev/outbox');
    if (res.status === 404) return null;
    if (!res.ok) throw new Error(await errorText(res));
    return ((await res.json()) as { mails: OutboxMailView[] }).mails;
  });
  return (
    <Show when={mails() !== null && !mails.loading}>
      <section class="card" aria-labelledby="outbox-heading">
        <h2 id="outbox-heading">Lokaler Postausgang (nur Entwicklung)</h2>
        <p>
          Diese E-Mails hat der lokale Server „gesendet“. In einer Bereitstellung ist diese Ansicht
          ausgeschaltet.{' '}
          <button type="button" class="secondary" onClick={() => refetch()}>
            Aktualisieren
          </button>
        </p>
        <Show when={(mails() ?? []).length > 0} fallback={<p>Noch keine E-Mails.</p>}>
          <ol class="outbox">
            <For each={mails() ?? []}>
              {(m) => (
                <li>
                  <h3>{m.subject}</h3>
                  <p>
                    An {m.to} · {KIND_LABEL[m.kind] ?? m.kind} · {when(m.sentAt)}
                  </p>
                  <ul>
                    <For each={m.links}>
                      {(href) => (
                        <li>
                          <a href={href}>{href.replace(/\?t=.*/, '?t=…')}</a>
                        </li>
                      )}
                    </For>
                  </ul>
                  <details>
                    <summary>Text der E-Mail</summary>
                    <pre>{m.text}</pre>
                  </details>
                </li>
              )}
            </For>
          </ol>
        </Show>
      </section>
    </Show>
  );
}
