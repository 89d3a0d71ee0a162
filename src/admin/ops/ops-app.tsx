/**
 * The ops dashboard: numbers, registrations per day (inline SVG), a table per UTM source,
 * export downloads, erasure, the giveaway draw and the audit log. Everything comes from
 * role-checked `/api/admin/*` routes; this bundle holds no data of its own.
 */
import { createResource, createSignal, For, Show } from 'solid-js';
import { adminFetch, errorText, type AdminSession } from '../sign-in';
import type { AuditEntryView, DrawRecord, OpsStats } from './api-types';
import { DayChart } from './day-chart';
// ---- mail slot (issue 5, mail engineer): dead letters and the dev outbox ----
import { MailPanels } from './outbox-panel';
// ---- end of mail slot ----
import { AttackPanel } from './attack-panel';
// ---- webhooks slot (issue 16): endpoints, deliveries, dead letters, Brevo ----
import { WebhookPanels } from './webhook-panels';
// ---- end of webhooks slot ----

const nf = new Intl.NumberFormat('de-DE');
const pf = new Intl.NumberFormat('de-DE', { style: 'percent', maximumFractionDigits: 1 });
const tf = new Intl.DateTimeFormat('de-DE', {
  dateStyle: 'medium',
  timeStyle: 'medium',
  timeZone: 'Europe/Berlin',
});

async function getJson<T>(session: AdminSession, path: string): Promise<T> {
  const res = await adminFetch(session, path);
  if (!res.ok) throw new Error(await errorText(res));
  return (await res.json()) as T;
}

const ACTION_LABEL: Record<string, string> = {
  'auth.failed': 'Zugriff abgelehnt',
  'session.created': 'Anmeldung',
  'session.failed': 'Anmeldung fehlgeschlagen',
  'leads.exported': 'Export',
  'lead.erased': 'Lead gelöscht',
  'giveaway.drawn': 'Gewinner ausgelost',
  'giveaway.refused': 'Auslosung abgelehnt',
};

export function OpsApp(props: { session: AdminSession }) {
  const [stats, { refetch: refetchStats }] = createResource(() =>
    getJson<OpsStats>(props.session, '/api/admin/stats'),
  );
  const [audit, { refetch: refetchAudit }] = createResource(() =>
    getJson<{ entries: AuditEntryView[] }>(props.session, '/api/admin/audit'),
  );
  const [draws, { refetch: refetchDraws }] = createResource(() =>
    getJson<{ draws: DrawRecord[] }>(props.session, '/api/admin/giveaway/draws'),
  );

  return (
    <main>
      <section class="card" aria-labelledby="kpi-heading">
        <div class="row" style={{ 'justify-content': 'space-between' }}>
          <h2 id="kpi-heading">Kennzahlen</h2>
          <button type="button" class="secondary" onClick={() => (refetchStats(), refetchAudit())}>
            Aktualisieren
          </button>
        </div>
        <Show when={stats.error}>
          <p class="error" role="alert">
            {(stats.error as Error).message}
          </p>
        </Show>
        <Show when={stats()} fallback={<p>Lädt …</p>}>
          {(s) => (
            <>
              <dl class="kpis">
                <div>
                  <dt>Anmeldungen gesamt</dt>
                  <dd data-testid="total">{nf.format(s().total)}</dd>
                </div>
                <div>
                  <dt>Bestätigt</dt>
                  <dd>{nf.format(s().byStatus.confirmed)}</dd>
                </div>
                <div>
                  <dt>Bestätigungsquote</dt>
                  <dd>{pf.format(s().confirmationRate)}</dd>
                </div>
                <div>
                  <dt>Gewinnspiel-Teilnahmen</dt>
                  <dd>{nf.format(s().giveawayEntries)}</dd>
                </div>
                <div>
                  <dt>Newsletter</dt>
                  <dd>{nf.format(s().newsletter)}</dd>
                </div>
                <div>
                  <dt>Abgemeldet</dt>
                  <dd>{nf.format(s().byStatus.unsubscribed)}</dd>
                </div>
              </dl>
              <Show when={s().skipped > 0}>
                <p class="error">
                  {nf.format(s().skipped)} Einträge waren unlesbar und fehlen in den Zahlen.
                </p>
              </Show>
              <h3>Anmeldungen pro Tag</h3>
              <DayChart days={s().perDay} />
              <h3 id="source-heading">Nach UTM-Quelle</h3>
              <div class="scroll">
                <table aria-labelledby="source-heading">
                  <thead>
                    <tr>
                      <th scope="col">Quelle</th>
                      <th scope="col" class="num">
                        Anmeldungen
                      </th>
                      <th scope="col" class="num">
                        Bestätigt
                      </th>
                      <th scope="col" class="num">
                        Quote
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    <For
                      each={s().perSource}
                      fallback={
                        <tr>
                          <td colSpan={4}>Noch keine Anmeldungen.</td>
                        </tr>
                      }
                    >
                      {(row) => (
                        <tr>
                          <td>{row.source || '(ohne Quelle)'}</td>
                          <td class="num">{nf.format(row.count)}</td>
                          <td class="num">{nf.format(row.confirmed)}</td>
                          <td class="num">{pf.format(row.count ? row.confirmed / row.count : 0)}</td>
                        </tr>
                      )}
                    </For>
                  </tbody>
                </table>
              </div>
            </>
          )}
        </Show>
      </section>

      <ExportPanel />
      <ErasePanel session={props.session} onDone={() => (refetchStats(), refetchAudit())} />
      <DrawPanel
        session={props.session}
        draws={draws()?.draws ?? []}
        onDone={() => (refetchDraws(), refetchAudit())}
      />
      {/* mail slot (issue 5): dead letters with retry, local outbox */}
      <MailPanels session={props.session} />
      <AttackPanel session={props.session} />
      {/* webhooks slot (issue 16) */}
      <WebhookPanels session={props.session} />

      <section class="card" aria-labelledby="audit-heading">
        <div class="row" style={{ 'justify-content': 'space-between' }}>
          <h2 id="audit-heading">Protokoll</h2>
          <button type="button" class="secondary" onClick={() => refetchAudit()}>
            Protokoll neu laden
          </button>
        </div>
        <Show when={audit()} fallback={<p>Lädt …</p>}>
          {(a) => (
            <div class="scroll">
              <table aria-labelledby="audit-heading">
                <thead>
                  <tr>
                    <th scope="col">Zeit</th>
                    <th scope="col">Aktion</th>
                    <th scope="col">Wer</th>
                    <th scope="col">Details</th>
                  </tr>
                </thead>
                <tbody>
                  <For each={a().entries.slice(0, 50)}>
                    {(e) => (
                      <tr>
                        <td>{tf.format(new Date(e.t))}</td>
                        <td>{ACTION_LABEL[e.action] ?? e.action}</td>
                        <td>
                          {e.id} ({e.role})
                        </td>
                        <td>
                          {Object.entries(e.detail ?? {})
                            .map(([k, v]) => `${k}: ${v}`)
                            .join(', ')}
                        </td>
                      </tr>
                    )}
                  </For>
                </tbody>
              </table>
            </div>
          )}
        </Show>
      </section>
    </main>
  );
}

function ExportPanel() {
  const [since, setSince] = createSignal('');
  const [status, setStatus] = createSignal('');
  const [giveaway, setGiveaway] = createSignal(false);
  const [eligible, setEligible] = createSignal(false);
  const href = (format: string) => {
    const q = new URLSearchParams({ format });
    if (since()) q.set('since', since());
    if (status()) q.set('status', status());
    if (giveaway()) q.set('giveaway', '1');
    if (eligible()) q.set('eligible', '1');
    return `/api/admin/leads?${q}`;
  };
  return (
    <section class="card" aria-labelledby="export-heading">
      <h2 id="export-heading">Export</h2>
      <div class="row">
        <div class="field">
          <label for="export-since">Angemeldet ab</label>
          <input
            id="export-since"
            type="date"
            value={since()}
            onInput={(e) => setSince(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="export-status">Status</label>
          <select id="export-status" value={status()} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">alle</option>
            <option value="pending">unbestätigt</option>
            <option value="confirmed">bestätigt</option>
            <option value="unsubscribed">abgemeldet</option>
          </select>
        </div>
        <div class="field">
          <label>
            <input
              type="checkbox"
              checked={giveaway()}
              onChange={(e) => setGiveaway(e.currentTarget.checked)}
            />{' '}
            nur Gewinnspiel-Teilnahmen
          </label>
        </div>
        <div class="field">
          <label>
            <input
              type="checkbox"
              checked={eligible()}
              onChange={(e) => setEligible(e.currentTarget.checked)}
            />{' '}
            nur Teilnahmeberechtigte der Auslosung
          </label>
        </div>
      </div>
      <div class="row">
        <a class="button" href={href('excel')} download="">
          Excel (CSV, deutsch) herunterladen
        </a>
        <a class="button secondary" href={href('csv')} download="">
          CSV (RFC 4180) herunterladen
        </a>
        <a class="button secondary" href={href('ndjson')} download="">
          NDJSON herunterladen
        </a>
      </div>
      <p class="hint">
        Excel: Semikolon, UTF-8 mit BOM, deutsche Spaltennamen. Zellen, die mit =, +, -, @ beginnen, erhalten
        ein vorangestelltes Hochkomma. „Gewinnspiel“ und „Newsletter“ zählen nur bestätigte, nicht widerrufene
        Einwilligungen. Die IDs des Exports „nur Teilnahmeberechtigte“, sortiert und zeilenweise verbunden,
        ergeben mit SHA-256 den Prüfwert der Auslosung.
      </p>
    </section>
  );
}

function ErasePanel(props: { session: AdminSession; onDone: () => void }) {
  const [message, setMessage] = createSignal<{ ok: boolean; text: string } | null>(null);
  let input!: HTMLInputElement;
  async function submit(e: SubmitEvent) {
    e.preventDefault();
    setMessage(null);
    const email = input.value.trim();
    if (!email) return setMessage({ ok: false, text: 'Bitte geben Sie eine E-Mail-Adresse ein.' });
    if (!confirm('Diesen Lead endgültig löschen? Die Adresse wird danach nicht wieder aufgenommen.')) return;
    const res = await adminFetch(props.session, '/api/admin/leads/erase', {
      method: 'POST',
      body: JSON.stringify({ email }),
    });
    if (!res.ok) return setMessage({ ok: false, text: await errorText(res) });
    const body = (await res.json()) as { message: string };
    input.value = '';
    setMessage({ ok: true, text: body.message });
    props.onDone();
  }
  return (
    <section class="card" aria-labelledby="erase-heading">
      <h2 id="erase-heading">Lead löschen (Recht auf Löschung)</h2>
      <form onSubmit={submit} novalidate>
        <div class="row">
          <div class="field">
            <label for="erase-email">E-Mail-Adresse</label>
            <input
              id="erase-email"
              ref={input}
              type="email"
              autocomplete="off"
              aria-describedby="erase-result"
            />
          </div>
          <div class="field">
            <button type="submit">Löschen</button>
          </div>
        </div>
        <p id="erase-result" role="status" class={message()?.ok ? 'success' : 'error'}>
          {message()?.text ?? ''}
        </p>
      </form>
    </section>
  );
}

function DrawPanel(props: { session: AdminSession; draws: DrawRecord[]; onDone: () => void }) {
  const [message, setMessage] = createSignal<{ ok: boolean; text: string } | null>(null);
  let count!: HTMLInputElement;
  let reason!: HTMLInputElement;
  async function submit(e: SubmitEvent) {
    e.preventDefault();
    setMessage(null);
    const winners = Number(count.value);
    const redrawReason = reason?.value.trim();
    const res = await adminFetch(props.session, '/api/admin/giveaway/draw', {
      method: 'POST',
      body: JSON.stringify({ winners, ...(redrawReason ? { redraw: { reason: redrawReason } } : {}) }),
    });
    if (!res.ok) return setMessage({ ok: false, text: await errorText(res) });
    setMessage({ ok: true, text: 'Die Gewinner wurden ausgelost und protokolliert.' });
    if (reason) reason.value = '';
    props.onDone();
  }
  return (
    <section class="card" aria-labelledby="draw-heading">
      <h2 id="draw-heading">Gewinnspiel-Auslosung</h2>
      <p class="hint">
        Teilnahmeberechtigt: bestätigte Gewinnspiel-Teilnahme, vor dem Teilnahmeschluss, Anmeldung bestätigt,
        nicht gelöscht; ein Eintrag je Postfach. Eine Neuauslosung zieht niemanden, der schon gewonnen hat.
        Die Auslosung wird mit Zeit, Person, Zahl der Berechtigten und einem Prüfwert protokolliert; der
        Export „nur Teilnahmeberechtigte“ enthält genau die Einträge, aus denen sich der Prüfwert ergibt.
      </p>
      <form onSubmit={submit} novalidate>
        <div class="row">
          <div class="field">
            <label for="draw-count">Anzahl Gewinner</label>
            <input id="draw-count" ref={count} type="number" min="1" max="1000" value="1" />
          </div>
          <Show when={props.draws.length > 0}>
            <div class="field">
              <label for="draw-reason">Begründung der Neuauslosung</label>
              <input id="draw-reason" ref={reason} type="text" maxLength={300} />
            </div>
          </Show>
          <div class="field">
            <button type="submit">{props.draws.length ? 'Neu auslosen' : 'Auslosen'}</button>
          </div>
        </div>
        <p role="status" class={message()?.ok ? 'success' : 'error'}>
          {message()?.text ?? ''}
        </p>
      </form>
      <For each={props.draws}>
        {(d) => (
          <div>
            <h3>
              {d.seq > 1 ? `${d.seq - 1}. Neuauslosung` : 'Auslosung'} vom {tf.format(new Date(d.at))} durch{' '}
              {d.by}
            </h3>
            <p class="hint">
              {nf.format(d.eligibleCount)} Berechtigte · Prüfwert (SHA-256) <code>{d.eligibleHash}</code>
              {d.redraw ? ` · Begründung: ${d.redraw.reason}` : ''}
            </p>
            <ol>
              <For each={d.winners}>
                {(w) => (
                  <li>
                    {w.email ?? `gelöscht (Kennung ${w.leadId.slice(0, 12)}…)`}
                    {w.firstName ? ` (${w.firstName})` : ''}
                  </li>
                )}
              </For>
            </ol>
          </div>
        )}
      </For>
    </section>
  );
}
