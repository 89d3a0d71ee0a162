/**
 * PLACEHOLDER created by the ops engineer (issue 3) so the admin shell builds: the
 * marketing editor engineer owns src/admin/editor/** and replaces this file. Contract:
 * `MarketingApp` receives the signed-in session; use `adminFetch(session, …)` from
 * ../sign-in for API calls (it adds the CSRF header).
 */
import type { AdminSession } from '../sign-in';

export function MarketingApp(props: { session: AdminSession }) {
  return (
    <main>
      <section class="card" aria-labelledby="marketing-heading">
        <h2 id="marketing-heading">Seiteninhalte</h2>
        <p>Der Inhalts-Editor für {props.session.id} folgt hier.</p>
      </section>
    </main>
  );
}
