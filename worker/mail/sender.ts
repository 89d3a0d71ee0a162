/**
 * Sends one mail through the Cloudflare Email Service binding (`env.EMAIL`). Locally
 * workerd writes it to a temp file instead; with DEV_OUTBOX on it is also kept for the dev
 * outbox (D1, worker/mail/outbox.ts). A failing send throws, and the queue consumer retries it.
 */
import { mailAddress } from '../../src/lib/email';
import { errorMessage, log } from '../log';
import { outboxEnabled, recordOutbox } from './outbox';
import type { MailContent } from './templates';

export interface OutgoingMail extends MailContent {
  to: string;
  kind: string;
  fromName: string;
  headers: Record<string, string>;
  attachments?: { filename: string; type: string; content: string }[];
}

/** The env this module needs; `EMAIL` may be swapped for a fake in tests. */
export interface SenderEnv {
  EMAIL: SendEmail;
  MAIL_FROM: string;
  DB: D1Database;
  DEV_OUTBOX?: string;
  ENVIRONMENT?: string;
}

export async function sendMail(env: SenderEnv, mail: OutgoingMail, now = new Date()): Promise<void> {
  await env.EMAIL.send({
    from: { email: env.MAIL_FROM, name: mail.fromName.replace(/[\r\n"<>]/g, ' ').trim() },
    // The domain in punycode for the transport; the outbox and mail texts keep it as typed.
    to: mailAddress(mail.to),
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    headers: mail.headers,
    ...(mail.attachments?.length
      ? { attachments: mail.attachments.map((a) => ({ ...a, disposition: 'attachment' as const })) }
      : {}),
  });
  if (outboxEnabled(env)) {
    try {
      await recordOutbox(env.DB, {
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        sentAt: now.toISOString(),
        kind: mail.kind,
        headers: mail.headers,
        attachments: (mail.attachments ?? []).map((a) => a.filename),
      });
    } catch (error) {
      // The mail itself went out; a dev-only copy must not make the job fail and resend.
      log.warn('mail.outbox_failed', { message: errorMessage(error) });
    }
  }
}
