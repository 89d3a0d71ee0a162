/**
 * Mail requests from visitor actions: the confirmation after a registration, the welcome
 * after confirming. A failing enqueue never fails the visitor's action: the hourly sweep in
 * worker/reminders.ts finds pending leads that never got their confirmation.
 */
import { getLead, getSentMarkers, sentKey, type RegisterOutcome } from '../lead-store';
import { errorMessage, log } from '../log';
import { CONFIRM_RESEND_INTERVAL_MS } from './consumer';
import type { MailKind } from './jobs';
import { enqueueJob } from './producer';

export interface RequestEnv {
  LEADS: KVNamespace;
  MAIL_QUEUE: Queue;
}

/** Enqueues one mail job; false (and a log line) when the queue refused it. */
export async function requestMail(
  env: RequestEnv,
  kind: MailKind,
  leadId: string,
  origin: string | undefined,
  now = new Date(),
): Promise<boolean> {
  try {
    await enqueueJob(env.MAIL_QUEUE, {
      type: 'mail',
      kind,
      leadId,
      requestedAt: now.getTime(),
      ...(origin ? { origin } : {}),
    });
    return true;
  } catch (error) {
    log.error('mail.enqueue_failed', { kind, message: errorMessage(error) });
    return false;
  }
}

/**
 * After `registerLead`: a new lead gets its confirmation; a repeat of a still-pending lead
 * gets a new one, at most every 10 minutes (the visitor may have lost the first mail).
 */
export async function requestConfirmation(
  env: RequestEnv,
  leadId: string,
  outcome: RegisterOutcome,
  origin: string | undefined,
  now = new Date(),
): Promise<void> {
  if (outcome === 'suppressed') return;
  try {
    if (outcome !== 'created') {
      const lead = await getLead(env.LEADS, leadId);
      if (!lead || lead.status !== 'pending') return;
      const marker = (await getSentMarkers(env.LEADS, [sentKey('confirm', leadId)])).get(
        sentKey('confirm', leadId),
      );
      if (marker && now.getTime() - Date.parse(marker.at) < CONFIRM_RESEND_INTERVAL_MS) return;
    }
  } catch (error) {
    log.error('mail.confirm_check_failed', { message: errorMessage(error) });
    return;
  }
  await requestMail(env, 'confirm', leadId, origin, now);
}
