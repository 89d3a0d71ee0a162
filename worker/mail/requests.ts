/**
 * Mail requests from visitor actions: the confirmation after a registration, the welcome
 * after confirming. A failing enqueue never fails the visitor's action: the hourly sweep in
 * worker/reminders.ts finds pending leads that never got their first confirmation, and a
 * repeat registration asks again.
 */
import { errorMessage, log } from '../log';
import type { MailKind } from './jobs';
import { enqueueJob } from './producer';

/** Enqueues one mail job; false (and a log line) when the queue refused it. */
export async function requestMail(
  queue: Queue,
  kind: MailKind,
  leadId: string,
  opts: { ref: string; origin?: string; now?: Date },
): Promise<boolean> {
  try {
    await enqueueJob(queue, {
      type: 'mail',
      kind,
      leadId,
      requestedAt: (opts.now ?? new Date()).getTime(),
      ref: opts.ref,
      ...(opts.origin ? { origin: opts.origin } : {}),
    });
    return true;
  } catch (error) {
    log.error('mail.enqueue_failed', { kind, message: errorMessage(error) });
    return false;
  }
}
