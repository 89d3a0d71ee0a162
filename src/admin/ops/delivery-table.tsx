/**
 * A table of webhook or connector deliveries (time, event, status code, attempts, latency,
 * state, the start of the answer), shared by the webhook and the Brevo panel.
 */
import { For, Show, type JSX } from 'solid-js';
import { WEBHOOK_EVENT_LABELS, type DeliveryState, type DeliveryView } from '../../lib/webhooks';

const tf = new Intl.DateTimeFormat('de-DE', {
  dateStyle: 'short',
  timeStyle: 'medium',
  timeZone: 'Europe/Berlin',
});
export const when = (iso: string | null) => (iso ? tf.format(new Date(iso)) : '–');

export const STATE_LABEL: Record<DeliveryState, string> = {
  pending: 'wird wiederholt',
  delivered: 'zugestellt',
  dead: 'fehlgeschlagen',
  cancelled: 'verworfen',
};

export const eventLabel = (type: string) =>
  `${WEBHOOK_EVENT_LABELS[type as keyof typeof WEBHOOK_EVENT_LABELS] ?? type} (${type})`;

export function DeliveryTable(props: {
  caption: string;
  deliveries: DeliveryView[];
  empty: string;
  action?: (d: DeliveryView) => JSX.Element;
}) {
  return (
    <Show when={props.deliveries.length > 0} fallback={<p class="hint">{props.empty}</p>}>
      {/* Focusable, so keyboard users can scroll a table wider than a phone. */}
      <div class="scroll" tabIndex={0} role="region" aria-label={props.caption}>
        <table>
          <caption class="visually-hidden">{props.caption}</caption>
          <thead>
            <tr>
              <th scope="col">Zeit</th>
              <th scope="col">Ereignis</th>
              <th scope="col" class="num">
                Status
              </th>
              <th scope="col" class="num">
                Versuche
              </th>
              <th scope="col" class="num">
                Dauer
              </th>
              <th scope="col">Zustand</th>
              <th scope="col">Antwort / Grund</th>
              <Show when={props.action}>
                <th scope="col">
                  <span class="visually-hidden">Aktion</span>
                </th>
              </Show>
            </tr>
          </thead>
          <tbody>
            <For each={props.deliveries}>
              {(d) => (
                <tr>
                  <td>{when(d.lastAt ?? d.createdAt)}</td>
                  <td>{eventLabel(d.eventType)}</td>
                  <td class="num">{d.lastStatus ?? '–'}</td>
                  <td class="num">{d.attempts}</td>
                  <td class="num">{d.latencyMs === null ? '–' : `${d.latencyMs} ms`}</td>
                  <td>
                    {STATE_LABEL[d.state]}
                    {d.state === 'pending' && d.nextAt ? `, nächster Versuch ${when(d.nextAt)}` : ''}
                  </td>
                  <td>
                    {[d.lastError, d.excerpt].filter(Boolean).join(' · ') || '–'}
                    <div class="hint">
                      <code>{d.id}</code>
                    </div>
                  </td>
                  <Show when={props.action}>
                    <td>{props.action!(d)}</td>
                  </Show>
                </tr>
              )}
            </For>
          </tbody>
        </table>
      </div>
    </Show>
  );
}
