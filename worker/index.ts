/** Worker entry: the Hono app handles fetch; queue and cron handlers join it here. */
import { app } from './app';

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
