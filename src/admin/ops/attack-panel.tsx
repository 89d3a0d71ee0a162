/**
 * "Schutz vor Bots": what the bot defences did per hour (registrations accepted, refused
 * by reason, confirmation mails sent and held back) and the attack-mode switch
 * (GET /api/admin/abuse, PUT /api/admin/attack-mode; role ops).
 */
import { createResource, createSignal, For, Show } from 'solid-js';
import { adminFetch, errorText, type AdminSession } from '../sign-in';

interface HourCounts {
  hour: string;
  accepted: number;
  refused: Record<string, number>;
  mailsSent: number;
  mailsPaced: number;
}

interface AbuseView {
  hours: HourCounts[];
  attackMode: { on: boolean; by: 'auto' | 'ops'; since: number; threshold: number };
}

const REASONS: [string, string][] = [
  ['challenge', 'Prüfung'],
  ['honeypot', 'Honeypot'],
  ['too_fast', 'Zu schnell'],
  ['rate_limit', 'Zu viele'],
  ['form_fields', 'Felder fehlen'],
  ['question', 'Frage falsch'],
];

const nf = new Intl.NumberFormat('de-DE');
const hourFormat = new Intl.DateTimeFormat('de-DE', {
  weekday: 'short',
  hour: '2-digit',
  minute: '2-digit',
  timeZone: 'Europe/Berlin',
});
const since = new Intl.DateTimeFormat('de-DE', {
  dateStyle: 'medium',
  timeStyle: 'short',
  timeZone: 'Europe/Berlin',
});

export function AttackPanel(props: { session: AdminSession }) {
  const [data, { refetch }] = createResource(async () => {
    const res = await adminFetch(props.session, '/api/admin/abuse');
    if (!res.ok) throw new Error(await errorText(res));
    return (await res.json()) as AbuseView;
  });
  const [message, setMessage] = createSignal('');
  const [busy, setBusy] = createSignal(false);

  async function toggle() {
    const on = !data()?.attackMode.on;
    setBusy(true);
    setMessage('');
    const res = await adminFetch(props.session, '/api/admin/attack-mode', {
      method: 'PUT',
      body: JSON.stringify({ on }),
    });
    setBusy(false);
    setMessage(
      res.ok
        ? on
          ? 'Angriffsmodus ist eingeschaltet.'
          : 'Angriffsmodus ist ausgeschaltet.'
        : await errorText(res),
    );
    await refetch();
  }

  const active = () =>
    (data()?.hours ?? []).filter(
      (h) => h.accepted || h.mailsSent || h.mailsPaced || Object.values(h.refused).some(Boolean),
    );

  return (
    <section class="card" aria-labelledby="abuse-heading">
      <div class="row" style={{ 'justify-content': 'space-between' }}>
        <h2 id="abuse-heading">Schutz vor Bots</h2>
        <button type="button" class="secondary" onClick={() => void refetch()}>
          Aktualisieren
        </button>
      </div>
      <Show when={data.error}>
        <p role="alert">{String((data.error as Error).message)}</p>
      </Show>
      <Show when={data()}>
        {(d) => (
          <>
            <p>
              Angriffsmodus: <strong>{d().attackMode.on ? 'an' : 'aus'}</strong>
              <Show when={d().attackMode.since > 0}>
                {' '}
                (seit {since.format(d().attackMode.since)},{' '}
                {d().attackMode.by === 'auto' ? 'automatisch' : 'von Hand'})
              </Show>
              . Er schaltet sich bei mehr als {nf.format(d().attackMode.threshold)} Ablehnungen in 10 Minuten
              selbst ein: Die Prüfung im Browser wird dann aufwendiger, und wer ohne JavaScript anmeldet,
              beantwortet eine kurze Frage.
            </p>
            <button
              type="button"
              aria-pressed={d().attackMode.on}
              disabled={busy()}
              onClick={() => void toggle()}
            >
              {d().attackMode.on ? 'Angriffsmodus ausschalten' : 'Angriffsmodus einschalten'}
            </button>
            <p role="status">{message()}</p>
            <Show
              when={active().length}
              fallback={<p>In den letzten 24 Stunden gab es keine Anmeldeversuche.</p>}
            >
              <div
                class="scroll"
                tabindex="0"
                role="region"
                aria-label="Tabelle der Anmeldeversuche (seitlich scrollbar)"
              >
                <table>
                  <caption>Anmeldeversuche und Bestätigungsmails je Stunde (letzte 24 Stunden)</caption>
                  <thead>
                    <tr>
                      <th scope="col">Stunde</th>
                      <th scope="col" class="num">
                        Angenommen
                      </th>
                      <For each={REASONS}>
                        {([, label]) => (
                          <th scope="col" class="num">
                            Abgelehnt: {label}
                          </th>
                        )}
                      </For>
                      <th scope="col" class="num">
                        Mails gesendet
                      </th>
                      <th scope="col" class="num">
                        Mails zurückgehalten
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    <For each={active()}>
                      {(h) => (
                        <tr>
                          <th scope="row">{hourFormat.format(new Date(h.hour))} Uhr</th>
                          <td class="num">{nf.format(h.accepted)}</td>
                          <For each={REASONS}>
                            {([key]) => <td class="num">{nf.format(h.refused[key] ?? 0)}</td>}
                          </For>
                          <td class="num">{nf.format(h.mailsSent)}</td>
                          <td class="num">{nf.format(h.mailsPaced)}</td>
                        </tr>
                      )}
                    </For>
                  </tbody>
                </table>
              </div>
            </Show>
          </>
        )}
      </Show>
    </section>
  );
}
