/** Worker entry: the Hono app handles fetch; queue and cron handlers join it here. */
import { app } from './app';
import { consumeDeadLetters, consumeMailBatch, MAIL_DLQ_NAME } from './mail/consumer';
import { runScheduled } from './reminders';

export default {
  fetch: app.fetch,
  // Mail jobs and their dead letters (issue 5): both queues are consumed by this worker.
  async queue(batch, env) {
    if (batch.queue === MAIL_DLQ_NAME) await consumeDeadLetters(batch, env);
    else await consumeMailBatch(batch, env);
  },
  // Reminder fan-out, lost-confirmation sweep and purge of unconfirmed leads (issue 5).
  async scheduled(controller, env) {
    await runScheduled(controller.cron, env, new Date(controller.scheduledTime));
  },
} satisfies ExportedHandler<Env>;
