/**
 * The Brevo connector for ops: switch it on, choose the list and the attribute names for
 * the first name and the DOI proof, see its recent deliveries. The API key is a wrangler
 * secret; this panel only says whether it is set. Data: `/api/admin/connectors/brevo`.
 */
import { createResource, createSignal, For, Show } from 'solid-js';
import type { BrevoAttributes, BrevoSettingsView } from '../../lib/webhooks';
import { adminFetch, errorText, type AdminSession } from '../sign-in';
import { DeliveryTable } from './delivery-table';

const ATTRIBUTE_FIELDS: { key: keyof BrevoAttributes; label: string }[] = [
  { key: 'firstName', label: 'Attribut für den Vornamen' },
  { key: 'doiAt', label: 'Attribut für den Zeitpunkt der Bestätigung (DOI)' },
  { key: 'doiIp', label: 'Attribut für die IP-Adresse der Bestätigung (DOI)' },
  { key: 'doiTextVersion', label: 'Attribut für die Version des Einwilligungstexts' },
];

export function BrevoPanel(props: { session: AdminSession }) {
  const [data, { refetch }] = createResource(async () => {
    const res = await adminFetch(props.session, '/api/admin/connectors/brevo');
    if (!res.ok) throw new Error(await errorText(res));
    return (await res.json()) as BrevoSettingsView;
  });
  const [errors, setErrors] = createSignal<Record<string, string>>({});
  const [message, setMessage] = createSignal<{ ok: boolean; text: string } | null>(null);
  let form!: HTMLFormElement;

  async function submit(e: SubmitEvent) {
    e.preventDefault();
    setMessage(null);
    const f = new FormData(form);
    const listText = String(f.get('listId') ?? '').trim();
    const res = await adminFetch(props.session, '/api/admin/connectors/brevo', {
      method: 'PUT',
      body: JSON.stringify({
        enabled: f.get('enabled') === 'on',
        listId: listText === '' ? null : Number(listText),
        attributes: Object.fromEntries(ATTRIBUTE_FIELDS.map(({ key }) => [key, String(f.get(key) ?? '')])),
      }),
    });
    if (res.ok) {
      setErrors({});
      setMessage({ ok: true, text: 'Die Einstellungen sind gespeichert.' });
      refetch();
      return;
    }
    const body = (await res.json().catch(() => ({}))) as { errors?: Record<string, string>; error?: string };
    setErrors(body.errors ?? {});
    setMessage({ ok: false, text: body.error ?? 'Bitte prüfen Sie die markierten Felder.' });
    const first = Object.keys(body.errors ?? {})[0];
    if (first)
      form.querySelector<HTMLElement>(`[name="${first === 'attributes' ? 'firstName' : first}"]`)?.focus();
  }

  return (
    <section class="card" aria-labelledby="brevo-heading">
      <h2 id="brevo-heading">Brevo-Newsletter</h2>
      <p class="hint">
        Bestätigte Newsletter-Einwilligungen werden mit ihrem Nachweis (Zeitpunkt, IP-Adresse, Textversion) in
        die gewählte Brevo-Liste übertragen; eine Abmeldung nimmt den Kontakt aus der Liste, eine Löschung
        löscht ihn in Brevo. Nur Kontakte, die der Connector selbst übertragen hat, werden später abgemeldet
        oder gelöscht, auch wenn er inzwischen ausgeschaltet ist: Ausschalten beendet nur das Übertragen neuer
        Kontakte.
      </p>
      <Show when={data.error}>
        <p class="error" role="alert">
          {(data.error as Error).message}
        </p>
      </Show>
      <Show when={data()} fallback={<p>Lädt …</p>}>
        {(d) => (
          <>
            <p class={d().apiKeyConfigured ? 'success' : 'error'}>
              {d().apiKeyConfigured
                ? 'Der API-Schlüssel (BREVO_API_KEY) ist hinterlegt.'
                : 'Der API-Schlüssel fehlt: npx wrangler secret put BREVO_API_KEY (lokal in .dev.vars).'}
            </p>
            <form ref={form} onSubmit={submit} novalidate>
              <div class="field">
                <label class="check">
                  <input type="checkbox" name="enabled" checked={d().enabled} /> Connector eingeschaltet
                </label>
                <p class="error">{errors().enabled ?? ''}</p>
              </div>
              <div class="field">
                <label for="brevo-list">ID der Brevo-Liste</label>
                <input
                  id="brevo-list"
                  name="listId"
                  type="number"
                  min="1"
                  step="1"
                  value={d().listId ?? ''}
                  aria-invalid={errors().listId ? 'true' : undefined}
                  aria-describedby="brevo-list-error"
                />
                <p id="brevo-list-error" class="error">
                  {errors().listId ?? ''}
                </p>
              </div>
              <For each={ATTRIBUTE_FIELDS}>
                {({ key, label }) => (
                  <div class="field">
                    <label for={`brevo-${key}`}>{label}</label>
                    <input
                      id={`brevo-${key}`}
                      name={key}
                      type="text"
                      autocomplete="off"
                      value={d().attributes[key]}
                      aria-describedby="brevo-attributes-hint brevo-attributes-error"
                    />
                  </div>
                )}
              </For>
              <p id="brevo-attributes-hint" class="hint">
                Die Attribute legen Sie einmal in Brevo an (Kontakte → Einstellungen → Attribute, Typ Text).
                Leer lassen = nicht übertragen.
              </p>
              <p id="brevo-attributes-error" class="error">
                {errors().attributes ?? ''}
              </p>
              <button type="submit">Speichern</button>
              <p role="status" class={message()?.ok ? 'success' : 'error'}>
                {message()?.text ?? ''}
              </p>
            </form>
            <h3>Letzte Übertragungen</h3>
            <DeliveryTable
              caption="Letzte Übertragungen an Brevo"
              deliveries={d().deliveries}
              empty="Noch keine Übertragungen."
            />
          </>
        )}
      </Show>
    </section>
  );
}
