/** Worker entry: the Hono app handles fetch; queue and cron handlers join it here. */
import { app } from './app';
import { consumeDeadLetters, consumeMailBatch, MAIL_DLQ_NAME } from './mail/consumer';
import { runScheduled } from './reminders';
// ---- webhooks (issue 16) ----
import { consumeWebhookBatch, consumeWebhookDeadLetters } from './webhooks/consumer';
import {
  CRON_WEBHOOKS,
  dispatchSoon,
  runWebhookCron,
  WEBHOOK_DLQ_NAME,
  WEBHOOK_QUEUE_NAME,
} from './webhooks/dispatch';
// ---- end webhooks ----

export default {
  fetch: app.fetch,
  // Mail jobs and their dead letters (issue 5): both queues are consumed by this worker.
  async queue(batch, env) {
    // ---- webhooks (issue 16): deliveries and their dead letters ----
    if (batch.queue === WEBHOOK_QUEUE_NAME) return consumeWebhookBatch(batch, env);
    if (batch.queue === WEBHOOK_DLQ_NAME) return consumeWebhookDeadLetters(batch, env);
    // ---- end webhooks ----
    if (batch.queue === MAIL_DLQ_NAME) await consumeDeadLetters(batch, env);
    else await consumeMailBatch(batch, env);
    // Webhooks (issue 16): a mail batch follows a registration or confirmation, whose event
    // is then moved on at once rather than at the next minute.
    await dispatchSoon(env);
  },
  // Reminder fan-out, lost-confirmation sweep and purge of unconfirmed leads (issue 5).
  async scheduled(controller, env) {
    // ---- webhooks (issue 16): every minute, the outbox to the queue ----
    if (controller.cron === CRON_WEBHOOKS) return runWebhookCron(env, new Date(controller.scheduledTime));
    // ---- end webhooks ----
    await runScheduled(controller.cron, env, new Date(controller.scheduledTime));
  },
} satisfies ExportedHandler<Env>;
