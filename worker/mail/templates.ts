/**
 * The mails, in German, as plain text and accessible HTML built from the same blocks, so
 * both parts always say the same thing.
 *
 * Rules (issue 5, docs/decisions/042-mail-content.md): no user-supplied text at all (not
 * even the first name: bots put spam there), no advertising (the confirmation holds only
 * what the recipient needs to decide: what, when, the link, how to say no), the sender's
 * imprint at the foot, and in every mail the unsubscribe and the erase link.
 */
import type { WebinarConfig } from '../../src/lib/webinar-config';
import { formatGermanDate, formatGermanDateTime, formatGermanTime, scheduleOf } from '../../src/lib/schedule';
import type { MailKind } from './jobs';

export interface MailLinks {
  /** Base for site links (imprint, privacy), no trailing slash. */
  site: string;
  confirm?: string;
  unsubscribe: string;
  erase: string;
}

export interface MailContent {
  subject: string;
  text: string;
  html: string;
}

type Block =
  | { p: string }
  | { button: { label: string; href: string } }
  | { facts: [string, string][] }
  | { small: string };

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!,
  );

function durationText(minutes: number): string {
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  const hours = h === 1 ? '1 Stunde' : `${h} Stunden`;
  if (h === 0) return `${m} Minuten`;
  return m === 0 ? hours : `${hours} ${m} Minuten`;
}

function toText(blocks: Block[]): string {
  return (
    blocks
      .map((b) => {
        if ('p' in b) return b.p;
        if ('button' in b) return `${b.button.label}:\n${b.button.href}`;
        if ('facts' in b) return b.facts.map(([k, val]) => `${k}: ${val}`).join('\n');
        return b.small;
      })
      .join('\n\n') + '\n'
  );
}

function toHtml(subject: string, blocks: Block[]): string {
  const body = blocks
    .map((b) => {
      if ('p' in b) return `<p style="margin:0 0 16px">${escapeHtml(b.p).replace(/\n/g, '<br>')}</p>`;
      if ('button' in b)
        return (
          `<p style="margin:0 0 24px"><a href="${escapeHtml(b.button.href)}" ` +
          `style="display:inline-block;background:#14213d;color:#ffffff;padding:12px 20px;border-radius:6px;` +
          `text-decoration:underline;font-weight:bold">${escapeHtml(b.button.label)}</a></p>` +
          `<p style="margin:0 0 16px;font-size:14px">Falls der Knopf nicht funktioniert, kopieren Sie diese Adresse in Ihren Browser:<br>` +
          `<span style="word-break:break-all">${escapeHtml(b.button.href)}</span></p>`
        );
      if ('facts' in b)
        return (
          `<dl style="margin:0 0 16px">` +
          b.facts
            .map(
              ([k, val]) =>
                `<dt style="font-weight:bold">${escapeHtml(k)}</dt><dd style="margin:0 0 8px">${escapeHtml(val)}</dd>`,
            )
            .join('') +
          `</dl>`
        );
      return `<p style="margin:0 0 12px;font-size:14px;color:#444444">${escapeHtml(b.small).replace(/\n/g, '<br>')}</p>`;
    })
    .join('\n');
  return (
    `<!doctype html>\n<html lang="de"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<title>${escapeHtml(subject)}</title></head>\n` +
    `<body style="margin:0;padding:0;background:#ffffff;color:#1a1a1a;font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5">\n` +
    `<main style="max-width:600px;margin:0 auto;padding:24px">\n${body}\n</main>\n</body></html>\n`
  );
}

function footer(config: WebinarConfig, links: MailLinks): Block[] {
  const l = config.legal;
  return [
    {
      small:
        `Keine E-Mails mehr zu diesem Webinar erhalten: ${links.unsubscribe}\n` +
        `Ihre Anmeldung und alle Angaben dazu löschen: ${links.erase}`,
    },
    {
      small:
        `${l.company}, ${l.street}, ${l.postalCode} ${l.city}, ${l.country}\n` +
        `E-Mail: ${l.email}\n` +
        `Impressum: ${links.site}/impressum · Datenschutz: ${links.site}/datenschutz`,
    },
  ];
}

function when(config: WebinarConfig): [string, string][] {
  const { startMs } = scheduleOf(config.webinar);
  return [
    ['Webinar', config.webinar.title],
    ['Termin', formatGermanDateTime(startMs)],
    ['Dauer', `etwa ${durationText(config.webinar.durationMinutes)}`],
  ];
}

export interface TemplateInput {
  kind: MailKind;
  config: WebinarConfig;
  links: MailLinks;
  /** The lead registered after the webinar (a replay request). */
  afterWebinar: boolean;
  purgeDays: number;
}

/** Subject and both parts of one mail. */
export function renderMail({ kind, config, links, afterWebinar, purgeDays }: TemplateInput): MailContent {
  const { startMs } = scheduleOf(config.webinar);
  const title = config.webinar.title;
  let subject: string;
  let blocks: Block[];
  switch (kind) {
    case 'confirm':
      subject = 'Bitte bestätigen Sie Ihre Anmeldung zum Webinar';
      blocks = [
        { p: 'Guten Tag,' },
        {
          p:
            `mit dieser E-Mail-Adresse wurde eine Anmeldung zum kostenlosen Online-Webinar „${title}“ ` +
            `vorgenommen. Bitte bestätigen Sie, dass Sie das waren.`,
        },
        { facts: when(config) },
        { button: { label: 'Anmeldung bestätigen', href: links.confirm ?? links.site } },
        {
          p:
            'Erst nach Ihrer Bestätigung senden wir Ihnen den Zugang zum Webinar und die Erinnerungen. ' +
            'Der Link ist 7 Tage gültig.',
        },
        {
          p:
            'Wenn Sie sich nicht angemeldet haben, müssen Sie nichts tun: Ohne Bestätigung erhalten Sie keine ' +
            `weiteren E-Mails, und wir löschen die Anmeldung nach ${purgeDays} Tagen.`,
        },
      ];
      break;
    case 'welcome':
      subject = afterWebinar
        ? `Ihre Anmeldung ist bestätigt: Aufzeichnung von „${title}“`
        : `Ihre Anmeldung ist bestätigt: Webinar am ${formatGermanDate(startMs)}`;
      blocks = afterWebinar
        ? [
            { p: 'Guten Tag,' },
            { p: `vielen Dank für Ihre Bestätigung. Das Webinar „${title}“ hat bereits stattgefunden.` },
            config.webinar.replayUrl
              ? { button: { label: 'Aufzeichnung ansehen', href: config.webinar.replayUrl } }
              : { p: 'Sobald die Aufzeichnung verfügbar ist, senden wir Ihnen den Link.' },
          ]
        : [
            { p: 'Guten Tag,' },
            { p: `vielen Dank für Ihre Bestätigung. Sie sind für das Webinar „${title}“ angemeldet.` },
            { facts: when(config) },
            { button: { label: 'Zum Webinar-Raum', href: config.webinar.joinUrl } },
            {
              p:
                'Den Termin finden Sie als Kalenderdatei (webinar.ics) im Anhang. Wir erinnern Sie ' +
                '24 Stunden und eine Stunde vor Beginn noch einmal per E-Mail.',
            },
          ];
      break;
    case 'reminder24h':
      subject = `Erinnerung: Morgen um ${formatGermanTime(startMs)} beginnt das Webinar`;
      blocks = [
        { p: 'Guten Tag,' },
        { p: `morgen beginnt das Webinar „${title}“, für das Sie angemeldet sind.` },
        { facts: when(config) },
        { button: { label: 'Zum Webinar-Raum', href: config.webinar.joinUrl } },
      ];
      break;
    case 'reminder1h':
      subject = `In einer Stunde beginnt das Webinar (${formatGermanTime(startMs)})`;
      blocks = [
        { p: 'Guten Tag,' },
        { p: `in einer Stunde beginnt das Webinar „${title}“, für das Sie angemeldet sind.` },
        { facts: when(config) },
        { button: { label: 'Zum Webinar-Raum', href: config.webinar.joinUrl } },
      ];
      break;
    case 'replay':
      subject = `Die Aufzeichnung des Webinars ist verfügbar`;
      blocks = [
        { p: 'Guten Tag,' },
        { p: `die Aufzeichnung des Webinars „${title}“ ist jetzt verfügbar.` },
        { button: { label: 'Aufzeichnung ansehen', href: config.webinar.replayUrl ?? links.site } },
      ];
      break;
  }
  blocks.push(...footer(config, links));
  return { subject, text: toText(blocks), html: toHtml(subject, blocks) };
}
