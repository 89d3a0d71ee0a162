/**
 * Admin entry (admin.html, its own bundle; never loaded by the visitor page): asks who is
 * signed in, shows the sign-in form or the area for the role.
 *
 * - ops       → the ops dashboard (src/admin/ops/)
 * - marketing → the content editor (src/admin/editor/, built by the marketing engineer)
 */
import { createResource, createSignal, Match, Show, Switch } from 'solid-js';
import { render } from 'solid-js/web';
import { OpsApp } from './ops/ops-app';
import { fetchSession, signOut, SignIn, type AdminSession, type AdminRole } from './sign-in';
// ---- marketing slot: the marketing editor engineer's component (src/admin/editor/**) ----
import { MarketingApp } from './editor/marketing-app';
// ---- end of marketing slot ----

const ROLE_LABEL: Record<AdminRole, string> = { ops: 'Ops', marketing: 'Marketing' };

function AdminApp() {
  const [initial] = createResource(fetchSession);
  const [override, setOverride] = createSignal<AdminSession | null | undefined>(undefined);
  const session = () => (override() !== undefined ? override() : initial());

  async function leave() {
    await signOut();
    setOverride(null);
  }

  return (
    <>
      <header class="bar">
        <h1>Webinar-Verwaltung</h1>
        <Show when={session()}>
          {(s) => (
            <div class="row">
              <span>
                Angemeldet als {s().id.startsWith('token:') ? ROLE_LABEL[s().role] : s().id} (Rolle{' '}
                {ROLE_LABEL[s().role]})
              </span>
              <button type="button" class="secondary" onClick={leave}>
                Abmelden
              </button>
            </div>
          )}
        </Show>
      </header>
      <Show
        when={!initial.loading || override() !== undefined}
        fallback={
          <main>
            <p>Lädt …</p>
          </main>
        }
      >
        <Switch fallback={<SignIn onSignedIn={(s) => setOverride(s)} />}>
          <Match when={session()?.role === 'ops' && session()}>{(s) => <OpsApp session={s()} />}</Match>
          <Match when={session()?.role === 'marketing' && session()}>
            {(s) => <MarketingApp session={s()} />}
          </Match>
        </Switch>
      </Show>
    </>
  );
}

const root = document.getElementById('admin')!;
root.textContent = '';
render(() => <AdminApp />, root);
