/**
 * Admin sign-in and the small API client shared by the ops and marketing areas.
 *
 * The browser never keeps the token: it is sent once to `POST /api/admin/session`, which
 * answers with an HttpOnly session cookie. `adminFetch` adds the CSRF header that every
 * cookie-authenticated mutation needs (see worker/auth.ts).
 */
import { createSignal, Show } from 'solid-js';

export type AdminRole = 'ops' | 'marketing';

/** Who is signed in, from `GET /api/admin/me` or the sign-in answer. */
export interface AdminSession {
  role: AdminRole;
  /** All roles held (an Access user can hold both). */
  roles: AdminRole[];
  /** Access email or `token:<role>`. */
  id: string;
  /** Echo as `X-CSRF-Token` on every POST/PUT/PATCH/DELETE. */
  csrf: string;
}

/** The German error text of an API refusal, or a generic one. */
export async function errorText(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { error?: string; errors?: Record<string, string> };
    if (body.error) return body.error;
    if (body.errors) return Object.values(body.errors).join(' ');
  } catch {
    // not JSON: fall through
  }
  return `Die Anfrage ist fehlgeschlagen (Status ${res.status}).`;
}

/** Fetch against the admin API with the session cookie and, for mutations, the CSRF header. */
export function adminFetch(session: AdminSession, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const method = (init.method ?? 'GET').toUpperCase();
  if (method !== 'GET' && method !== 'HEAD') headers.set('X-CSRF-Token', session.csrf);
  if (typeof init.body === 'string' && !headers.has('content-type'))
    headers.set('content-type', 'application/json');
  return fetch(path, { ...init, headers, credentials: 'same-origin' });
}

/** The current session, or null when nobody is signed in. */
export async function fetchSession(): Promise<AdminSession | null> {
  const res = await fetch('/api/admin/me', { credentials: 'same-origin' });
  if (!res.ok) return null;
  const body = (await res.json()) as AdminSession & { ok: boolean };
  return { role: body.role, roles: body.roles ?? [body.role], id: body.id, csrf: body.csrf };
}

export async function signOut(): Promise<void> {
  await fetch('/api/admin/session', { method: 'DELETE', credentials: 'same-origin' });
}

/** The sign-in form: one field for the role's access key. */
export function SignIn(props: { onSignedIn: (s: AdminSession) => void }) {
  const [error, setError] = createSignal('');
  const [busy, setBusy] = createSignal(false);
  let input!: HTMLInputElement;

  async function submit(e: SubmitEvent) {
    e.preventDefault();
    setError('');
    const token = input.value.trim();
    if (!token) {
      setError('Bitte geben Sie Ihren Zugangsschlüssel ein.');
      input.focus();
      return;
    }
    setBusy(true);
    try {
      const res = await fetch('/api/admin/session', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
        credentials: 'same-origin',
      });
      if (!res.ok) {
        setError(await errorText(res));
        input.focus();
        return;
      }
      const body = (await res.json()) as { role: AdminRole; id: string; csrf: string };
      input.value = '';
      props.onSignedIn({ role: body.role, roles: [body.role], id: body.id, csrf: body.csrf });
    } catch {
      setError('Der Server ist nicht erreichbar. Bitte prüfen Sie Ihre Verbindung.');
    } finally {
      setBusy(false);
    }
  }

  return (
    <main>
      <section class="card" aria-labelledby="signin-heading">
        <h2 id="signin-heading">Anmelden</h2>
        <p class="hint">
          Melden Sie sich mit dem Zugangsschlüssel Ihrer Rolle (Ops oder Marketing) an. Die Sitzung endet nach
          8 Stunden.
        </p>
        <form onSubmit={submit} novalidate>
          <div class="field">
            <label for="admin-token">Zugangsschlüssel</label>
            <input
              id="admin-token"
              ref={input}
              type="password"
              name="token"
              autocomplete="current-password"
              required
              aria-invalid={error() ? 'true' : undefined}
              aria-describedby="signin-error"
            />
          </div>
          <p id="signin-error" class="error" role="alert">
            <Show when={error()}>{error()}</Show>
          </p>
          <button type="submit" disabled={busy()}>
            {busy() ? 'Anmeldung läuft …' : 'Anmelden'}
          </button>
        </form>
      </section>
    </main>
  );
}
