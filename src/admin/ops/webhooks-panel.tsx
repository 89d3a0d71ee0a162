/**
 * Webhooks for ops: add an endpoint (the signing secret is shown once, right here), see
 * each endpoint's recent deliveries, send a test event, switch it off or on, renew its
 * secret, delete it, and send dead letters again. Data: `/api/admin/webhooks`
 * (worker/routes/admin-webhooks.ts).
 */
import { createResource, createSignal, For, Show } from 'solid-js';
import {
  WEBHOOK_EVENT_LABELS,
  WEBHOOK_EVENT_TYPES,
  type EndpointView,
  type WebhooksOverview,
} from '../../lib/webhooks';
import { adminFetch, errorText, type AdminSession } from '../sign-in';
import { DeliveryTable, when } from './delivery-table';

type Message = { ok: boolean; text: string } | null;

export function WebhooksPanel(props: { session: AdminSession }) {
  const [data, { refetch }] = createResource(async () => {
    const res = await adminFetch(props.session, '/api/admin/webhooks');
    if (!res.ok) throw new Error(await errorText(res));
    return (await res.json()) as WebhooksOverview;
  });
  const [message, setMessage] = createSignal<Message>(null);
  const [secret, setSecret] = createSignal<{ label: string; value: string } | null>(null);

  /** Runs an endpoint action and reports the outcome in the live region. */
  async function act(
    path: string,
    method: string,
    success: string,
    confirmText?: string,
    secretLabel = 'Neuer Signaturschlüssel',
  ): Promise<void> {
    if (confirmText && !confirm(confirmText)) return;
    setMessage(null);
    const res = await adminFetch(props.session, path, { method });
    if (!res.ok) {
      setMessage({ ok: false, text: await errorText(res) });
      return;
    }
    const body = (await res.json()) as { secret?: string };
    if (body.secret) setSecret({ label: secretLabel, value: body.secret });
    setMessage({ ok: true, text: success });
    refetch();
  }

  return (
    <section class="card" aria-labelledby="webhooks-heading">
      <div class="row" style={{ 'justify-content': 'space-between' }}>
        <h2 id="webhooks-heading">Webhooks</h2>
        <button type="button" class="secondary" onClick={() => refetch()}>
          Webhooks neu laden
        </button>
      </div>
      <p class="hint">
        Jedes Ereignis wird signiert (Standard Webhooks) an alle eingeschalteten Endpunkte gesendet, die es
        abonniert haben, und bei Fehlern mit wachsendem Abstand wiederholt. Die Reihenfolge ist nicht
        garantiert; Wiederholungen tragen dieselbe <code>webhook-id</code>.
      </p>
      <CreateForm
        session={props.session}
        onCreated={(value) => {
          setSecret({ label: 'Signaturschlüssel des neuen Endpunkts', value });
          refetch();
        }}
      />
      <Show when={secret()}>
        {(s) => <SecretNotice label={s().label} value={s().value} onDone={() => setSecret(null)} />}
      </Show>
      <p id="webhooks-result" role="status" class={message()?.ok ? 'success' : 'error'}>
        {message()?.text ?? ''}
      </p>
      <Show when={data.error}>
        <p class="error" role="alert">
          {(data.error as Error).message}
        </p>
      </Show>
      <Show when={data()} fallback={<p>Lädt …</p>}>
        {(d) => (
          <>
            <h3>Endpunkte</h3>
            <Show when={d().endpoints.length > 0} fallback={<p class="hint">Noch keine Endpunkte.</p>}>
              <For each={d().endpoints}>{(ep) => <EndpointCard endpoint={ep} act={act} />}</For>
            </Show>
            <h3 id="webhook-dead-heading">Fehlgeschlagene Zustellungen</h3>
            <DeliveryTable
              caption="Fehlgeschlagene Zustellungen aller Endpunkte und des Brevo-Connectors"
              deliveries={d().deadLetters}
              empty="Keine fehlgeschlagenen Zustellungen."
              action={(dl) => (
                <button
                  type="button"
                  aria-describedby="webhooks-result"
                  onClick={() =>
                    act(
                      `/api/admin/webhooks/deliveries/${dl.id}/resend`,
                      'POST',
                      'Die Zustellung ist wieder in der Warteschlange (mit derselben webhook-id).',
                    )
                  }
                >
                  Erneut senden
                </button>
              )}
            />
          </>
        )}
      </Show>
    </section>
  );
}

function EndpointCard(props: {
  endpoint: EndpointView;
  act: (
    path: string,
    method: string,
    success: string,
    confirmText?: string,
    secretLabel?: string,
  ) => Promise<void>;
}) {
  const ep = () => props.endpoint;
  const base = () => `/api/admin/webhooks/${ep().id}`;
  const headingId = () => `endpoint-${ep().id}`;
  return (
    <article aria-labelledby={headingId()} class="endpoint">
      <h4 id={headingId()}>
        <code>{ep().url}</code>
      </h4>
      <p>
        {ep().enabled ? 'Eingeschaltet' : 'Ausgeschaltet'}
        {ep().disabledReason ? `: ${ep().disabledReason}` : ''} · seit {when(ep().createdAt)} · Ereignisse:{' '}
        {ep()
          .events.map((e) => WEBHOOK_EVENT_LABELS[e])
          .join(', ')}
        <Show when={ep().previousSecretUntil}>
          {(until) => <> · Der vorige Schlüssel signiert noch bis {when(until())}</>}
        </Show>
      </p>
      <div class="row">
        <button
          type="button"
          class="secondary"
          disabled={!ep().enabled}
          aria-describedby="webhooks-result"
          onClick={() => props.act(`${base()}/test`, 'POST', 'Das Testereignis ist unterwegs.')}
        >
          Test senden
        </button>
        <Show
          when={ep().enabled}
          fallback={
            <button
              type="button"
              class="secondary"
              aria-describedby="webhooks-result"
              onClick={() => props.act(`${base()}/enable`, 'POST', 'Der Endpunkt ist wieder eingeschaltet.')}
            >
              Einschalten
            </button>
          }
        >
          <button
            type="button"
            class="secondary"
            aria-describedby="webhooks-result"
            onClick={() => props.act(`${base()}/disable`, 'POST', 'Der Endpunkt ist ausgeschaltet.')}
          >
            Ausschalten
          </button>
        </Show>
        <button
          type="button"
          class="secondary"
          aria-describedby="webhooks-result"
          onClick={() =>
            props.act(
              `${base()}/rotate-secret`,
              'POST',
              'Neuer Schlüssel erstellt. Der bisherige signiert noch 24 Stunden mit.',
              'Einen neuen Signaturschlüssel erstellen? Der bisherige gilt danach noch 24 Stunden.',
              `Neuer Signaturschlüssel für ${ep().url}`,
            )
          }
        >
          Schlüssel erneuern
        </button>
        <button
          type="button"
          class="secondary"
          aria-describedby="webhooks-result"
          onClick={() =>
            props.act(
              base(),
              'DELETE',
              'Der Endpunkt ist gelöscht.',
              'Diesen Endpunkt mit allen offenen Zustellungen löschen?',
            )
          }
        >
          Löschen
        </button>
      </div>
      <DeliveryTable
        caption={`Letzte Zustellungen an ${ep().url}`}
        deliveries={ep().deliveries}
        empty="Noch keine Zustellungen."
      />
    </article>
  );
}

function SecretNotice(props: { label: string; value: string; onDone: () => void }) {
  let box!: HTMLDivElement;
  queueMicrotask(() => box?.focus());
  return (
    <div ref={box} tabIndex={-1} role="region" aria-labelledby="secret-heading" class="secret">
      <h3 id="secret-heading">{props.label}</h3>
      <p>
        Der Schlüssel wird <strong>nur jetzt</strong> angezeigt. Tragen Sie ihn beim Empfänger ein (z. B. in
        Make, n8n oder Zapier), um die Signatur zu prüfen.
      </p>
      <label for="webhook-secret">Signaturschlüssel</label>
      <input
        id="webhook-secret"
        type="text"
        readOnly
        value={props.value}
        size={60}
        onFocus={(e) => e.currentTarget.select()}
      />
      <div class="row">
        <button type="button" class="secondary" onClick={() => navigator.clipboard?.writeText(props.value)}>
          Kopieren
        </button>
        <button type="button" onClick={() => props.onDone()}>
          Ich habe den Schlüssel gespeichert
        </button>
      </div>
    </div>
  );
}

function CreateForm(props: { session: AdminSession; onCreated: (secret: string) => void }) {
  const [errors, setErrors] = createSignal<Record<string, string>>({});
  const [busy, setBusy] = createSignal(false);
  let url!: HTMLInputElement;
  let events!: HTMLFieldSetElement;

  async function submit(e: SubmitEvent) {
    e.preventDefault();
    const chosen = [...events.querySelectorAll<HTMLInputElement>('input:checked')].map((i) => i.value);
    setBusy(true);
    const res = await adminFetch(props.session, '/api/admin/webhooks', {
      method: 'POST',
      body: JSON.stringify({ url: url.value, events: chosen }),
    }).finally(() => setBusy(false));
    if (res.status === 201) {
      setErrors({});
      url.value = '';
      for (const box of events.querySelectorAll<HTMLInputElement>('input')) box.checked = false;
      props.onCreated(((await res.json()) as { secret: string }).secret);
      return;
    }
    const body = (await res.json().catch(() => ({}))) as { errors?: Record<string, string>; error?: string };
    const next = body.errors ?? {
      form: body.error ?? `Die Anfrage ist fehlgeschlagen (Status ${res.status}).`,
    };
    setErrors(next);
    // Focus the first field with a message, so a screen reader hears it at once.
    if (next.url) url.focus();
    else if (next.events) events.querySelector<HTMLInputElement>('input')?.focus();
  }

  return (
    <form onSubmit={submit} novalidate aria-labelledby="webhook-new-heading">
      <h3 id="webhook-new-heading">Neuer Endpunkt</h3>
      <div class="field">
        <label for="webhook-url">Empfänger-URL</label>
        <input
          id="webhook-url"
          ref={url}
          type="url"
          inputMode="url"
          autocomplete="off"
          placeholder="https://hooks.example.com/webinar"
          size={50}
          aria-invalid={errors().url ? 'true' : undefined}
          aria-describedby="webhook-url-hint webhook-url-error"
        />
        <p id="webhook-url-hint" class="hint">
          Nur https://. Adressen im lokalen oder privaten Netz sind nicht erlaubt.
        </p>
        <p id="webhook-url-error" class="error">
          {errors().url ?? ''}
        </p>
      </div>
      <fieldset ref={events} class="field" aria-describedby="webhook-events-error">
        <legend>Ereignisse</legend>
        <For each={WEBHOOK_EVENT_TYPES}>
          {(type) => (
            <label class="check">
              <input type="checkbox" value={type} /> {WEBHOOK_EVENT_LABELS[type]} <code>{type}</code>
            </label>
          )}
        </For>
        <p id="webhook-events-error" class="error">
          {errors().events ?? ''}
        </p>
      </fieldset>
      <p class="error" role="alert">
        {errors().form ?? ''}
      </p>
      <button type="submit" disabled={busy()}>
        Endpunkt anlegen
      </button>
    </form>
  );
}
