/**
 * Calendar entries for the webinar: an iCalendar (RFC 5545) file and links for Google
 * Calendar and Outlook. No personal data goes into any of them.
 */
import type { WebinarConfig } from './webinar-config';
import { berlinWallClock, scheduleOf } from './schedule';

/** 20270318T180000Z */
function utcStamp(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/**
 * RFC 5545 TEXT: backslash, semicolon and comma escaped, every kind of line break (CRLF,
 * CR, LF, NEL, LS, PS, VT, FF) as `\n`, other control characters dropped, so a config
 * value can never start a property line of its own.
 */
function icsText(value: string): string {
  return value
    .replace(/\\/g, '\\\\')
    .replace(/;/g, '\\;')
    .replace(/,/g, '\\,')
    .replace(/\r\n|[\r\n\u000b\u000c\u0085\u2028\u2029]/g, '\\n')
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, '');
}

/** A URI or UID value: no control characters, so it can never end its line early. */
function icsUri(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f]/g, '');
}

/** RFC 5545 line folding at 75 octets. */
function fold(line: string): string {
  const bytes = new TextEncoder().encode(line);
  if (bytes.length <= 75) return line;
  const out: string[] = [];
  let current = '';
  let currentBytes = 0;
  for (const ch of line) {
    const n = new TextEncoder().encode(ch).length;
    if (currentBytes + n > (out.length === 0 ? 75 : 74)) {
      out.push(current);
      current = '';
      currentBytes = 0;
    }
    current += ch;
    currentBytes += n;
  }
  out.push(current);
  return out.join('\r\n ');
}

export interface IcsOptions {
  /** Stable per webinar (and per lead, for personal invitations). */
  uid: string;
  url: string;
  description?: string;
  /** Minutes before the start for a display alarm. */
  alarmMinutes?: number;
  nowMs?: number;
  /**
   * Write DTSTART/DTEND as Europe/Berlin wall-clock times with a VTIMEZONE (mail
   * invitations: calendars then show the German time even when the device is elsewhere).
   * Default: UTC times.
   */
  timeZone?: 'Europe/Berlin';
}

/** VTIMEZONE for Europe/Berlin with the EU rules (since 1996): last Sunday of March / October. */
const BERLIN_VTIMEZONE = [
  'BEGIN:VTIMEZONE',
  'TZID:Europe/Berlin',
  'BEGIN:DAYLIGHT',
  'TZOFFSETFROM:+0100',
  'TZOFFSETTO:+0200',
  'TZNAME:CEST',
  'DTSTART:19700329T020000',
  'RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU',
  'END:DAYLIGHT',
  'BEGIN:STANDARD',
  'TZOFFSETFROM:+0200',
  'TZOFFSETTO:+0100',
  'TZNAME:CET',
  'DTSTART:19701025T030000',
  'RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU',
  'END:STANDARD',
  'END:VTIMEZONE',
];

/** 20270318T190000: the Berlin wall-clock time of an instant. */
function berlinStamp(ms: number): string {
  const p = berlinWallClock(ms);
  return `${p.year}${p.month}${p.day}T${p.hour}${p.minute}${p.second}`;
}

/** A METHOD:PUBLISH calendar with one event, times in UTC (unambiguous across DST) or Berlin time. */
export function webinarIcs(config: WebinarConfig, options: IcsOptions): string {
  const { startMs, endMs } = scheduleOf(config.webinar);
  const lines = [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//Webinar Landing//DE',
    'CALSCALE:GREGORIAN',
    'METHOD:PUBLISH',
    ...(options.timeZone ? BERLIN_VTIMEZONE : []),
    'BEGIN:VEVENT',
    `UID:${icsUri(options.uid)}`,
    `DTSTAMP:${utcStamp(options.nowMs ?? Date.now())}`,
    options.timeZone ? `DTSTART;TZID=Europe/Berlin:${berlinStamp(startMs)}` : `DTSTART:${utcStamp(startMs)}`,
    options.timeZone ? `DTEND;TZID=Europe/Berlin:${berlinStamp(endMs)}` : `DTEND:${utcStamp(endMs)}`,
    `SUMMARY:${icsText(config.webinar.title)}`,
    `DESCRIPTION:${icsText(options.description ?? config.webinar.subtitle)}`,
    `URL:${icsUri(options.url)}`,
    'LOCATION:Online',
    'STATUS:CONFIRMED',
    'TRANSP:OPAQUE',
  ];
  if (options.alarmMinutes) {
    lines.push(
      'BEGIN:VALARM',
      'ACTION:DISPLAY',
      `DESCRIPTION:${icsText(config.webinar.title)}`,
      `TRIGGER:-PT${options.alarmMinutes}M`,
      'END:VALARM',
    );
  }
  lines.push('END:VEVENT', 'END:VCALENDAR');
  return lines.map(fold).join('\r\n') + '\r\n';
}

export interface CalendarLinks {
  ics: string;
  google: string;
  outlook: string;
}

export function calendarLinks(config: WebinarConfig): CalendarLinks {
  const { startMs, endMs } = scheduleOf(config.webinar);
  const details = `${config.webinar.subtitle}\n\n${config.seo.siteUrl}`;
  const google = new URL('https://calendar.google.com/calendar/render');
  google.searchParams.set('action', 'TEMPLATE');
  google.searchParams.set('text', config.webinar.title);
  google.searchParams.set('dates', `${utcStamp(startMs)}/${utcStamp(endMs)}`);
  google.searchParams.set('details', details);
  google.searchParams.set('location', 'Online');
  const outlook = new URL('https://outlook.live.com/calendar/0/deeplink/compose');
  outlook.searchParams.set('path', '/calendar/action/compose');
  outlook.searchParams.set('rru', 'addevent');
  outlook.searchParams.set('subject', config.webinar.title);
  outlook.searchParams.set('startdt', new Date(startMs).toISOString());
  outlook.searchParams.set('enddt', new Date(endMs).toISOString());
  outlook.searchParams.set('body', details);
  outlook.searchParams.set('location', 'Online');
  return { ics: '/webinar.ics', google: google.toString(), outlook: outlook.toString() };
}
