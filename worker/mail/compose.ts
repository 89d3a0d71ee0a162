/**
 * Turns (lead, mail kind, config) into a ready mail: signed links, the List-Unsubscribe
 * headers (RFC 2369 / RFC 8058 one-click), and for the welcome mail the personal `.ics`.
 */
import { webinarIcs } from '../../src/lib/calendar';
import { phaseAt, scheduleOf } from '../../src/lib/schedule';
import type { WebinarConfig } from '../../src/lib/webinar-config';
import type { Lead } from '../store/lead-store';
import { signToken } from '../tokens';
import type { MailKind } from './jobs';
import type { OutgoingMail } from './sender';
import { renderMail } from './templates';

export interface ComposeOptions {
  secret: string;
  /** Origin the links point to, e.g. https://webinar.example.de (no trailing slash). */
  base: string;
  purgeDays: number;
  now: Date;
}

/** Stable per (lead, webinar date): re-sending the welcome updates the same calendar entry. */
export function icsUid(leadId: string, startMs: number, siteUrl: string): string {
  return `${leadId.slice(0, 32)}-${startMs}@${new URL(siteUrl).host}`;
}

export async function composeMail(
  kind: MailKind,
  lead: Lead,
  config: WebinarConfig,
  o: ComposeOptions,
): Promise<OutgoingMail> {
  const sign = (purpose: 'confirm' | 'unsubscribe' | 'erase') =>
    signToken(o.secret, purpose, lead.id, lead.createdAt, o.now.getTime());
  const [unsubscribeToken, eraseToken, confirmToken] = await Promise.all([
    sign('unsubscribe'),
    sign('erase'),
    kind === 'confirm' ? sign('confirm') : Promise.resolve(''),
  ]);
  const links = {
    site: o.base,
    unsubscribe: `${o.base}/abmelden?t=${unsubscribeToken}`,
    erase: `${o.base}/loeschen?t=${eraseToken}`,
    ...(confirmToken ? { confirm: `${o.base}/bestaetigen?t=${confirmToken}` } : {}),
  };
  const schedule = scheduleOf(config.webinar);
  const afterWebinar = phaseAt(schedule, o.now.getTime()) === 'after';
  const content = renderMail({ kind, config, links, afterWebinar, purgeDays: o.purgeDays });
  const mail: OutgoingMail = {
    ...content,
    // A header line: no control character of any kind may reach it (a CR/LF would start a
    // header of its own, e.g. a Bcc). The config refuses them too; this holds regardless.
    subject: content.subject.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim(),
    to: lead.email,
    kind,
    fromName: config.legal.company,
    headers: {
      'List-Unsubscribe': `<${links.unsubscribe}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
  };
  if (kind === 'welcome' && !afterWebinar) {
    mail.attachments = [
      {
        filename: 'webinar.ics',
        type: 'text/calendar',
        content: webinarIcs(config, {
          uid: icsUid(lead.id, schedule.startMs, config.seo.siteUrl),
          url: config.webinar.joinUrl,
          description: `${config.webinar.subtitle}\n\nZugang zum Webinar: ${config.webinar.joinUrl}`,
          alarmMinutes: 15,
          timeZone: 'Europe/Berlin',
          nowMs: o.now.getTime(),
        }),
      },
    ];
  }
  return mail;
}
