/** The ops slot for issue 16: the webhooks panel and the Brevo connector panel. */
import type { AdminSession } from '../sign-in';
import { BrevoPanel } from './brevo-panel';
import { WebhooksPanel } from './webhooks-panel';

export function WebhookPanels(props: { session: AdminSession }) {
  return (
    <>
      <WebhooksPanel session={props.session} />
      <BrevoPanel session={props.session} />
    </>
  );
}
