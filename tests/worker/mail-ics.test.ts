import { describe, expect, it } from 'vitest';
import { webinarIcs } from '../../src/lib/calendar';
import type { WebinarConfig } from '../../src/lib/webinar-config';
import { DEFAULT_CONFIG } from '../../worker/config-store';
import { composeMail } from '../../worker/mail/compose';
import { renderMail } from '../../worker/mail/templates';
import type { Lead } from '../../worker/store/lead-store';

const withStart = (start: string, durationMinutes = 150): WebinarConfig => ({
  ...DEFAULT_CONFIG,
  webinar: { ...DEFAULT_CONFIG.webinar, start, durationMinutes },
});

/** Unfolds lines and reads properties of the VEVENT and the VTIMEZONE rules. */
function parseIcs(ics: string) {
  const lines = ics
    .replace(/\r\n[ \t]/g, '')
    .split('\r\n')
    .filter(Boolean);
  const rules: { offsetFrom: number; offsetTo: number; month: number; time: string }[] = [];
  let current: Partial<(typeof rules)[number]> | null = null;
  const event: Record<string, string> = {};
  let inEvent = false;
  const offset = (s: string) =>
    (s.startsWith('-') ? -1 : 1) * (Number(s.slice(1, 3)) * 60 + Number(s.slice(3, 5)));
  for (const line of lines) {
    if (line === 'BEGIN:DAYLIGHT' || line === 'BEGIN:STANDARD') current = {};
    else if ((line === 'END:DAYLIGHT' || line === 'END:STANDARD') && current) {
      rules.push(current as (typeof rules)[number]);
      current = null;
    } else if (current) {
      const [k, val] = line.split(':');
      if (k === 'TZOFFSETFROM') current.offsetFrom = offset(val);
      if (k === 'TZOFFSETTO') current.offsetTo = offset(val);
      if (k === 'DTSTART') current.time = val.slice(9);
      if (k === 'RRULE') {
        expect(val).toMatch(/BYDAY=-1SU/);
        current.month = Number(/BYMONTH=(\d+)/.exec(val)![1]);
      }
    } else if (line === 'BEGIN:VEVENT') inEvent = true;
    else if (line === 'END:VEVENT') inEvent = false;
    else if (inEvent) {
      const i = line.indexOf(':');
      event[line.slice(0, i)] = line.slice(i + 1);
    }
  }
  /** Local wall-clock `YYYYMMDDTHHMMSS` in the VTIMEZONE → UTC ms, by the RRULEs. */
  const toUtc = (local: string) => {
    const [y, mo, d, h, mi] = [
      local.slice(0, 4),
      local.slice(4, 6),
      local.slice(6, 8),
      local.slice(9, 11),
      local.slice(11, 13),
    ].map(Number);
    const wall = Date.UTC(y, mo - 1, d, h, mi);
    const transitions = rules.map((r) => {
      const last = new Date(Date.UTC(y, r.month, 0));
      const lastSunday = last.getUTCDate() - last.getUTCDay();
      const localMs = Date.UTC(
        y,
        r.month - 1,
        lastSunday,
        Number(r.time.slice(0, 2)),
        Number(r.time.slice(2, 4)),
      );
      return { utc: localMs - r.offsetFrom * 60_000, offsetTo: r.offsetTo };
    });
    for (const candidate of [60, 120]) {
      const utc = wall - candidate * 60_000;
      const inForce =
        transitions.filter((t) => t.utc <= utc).sort((a, b) => b.utc - a.utc)[0] ??
        transitions.sort((a, b) => b.utc - a.utc)[0];
      if (inForce.offsetTo === candidate) return utc;
    }
    throw new Error(`no offset fits ${local}`);
  };
  return { event, rules, toUtc };
}

const ics = (config: WebinarConfig) =>
  webinarIcs(config, {
    uid: 'lead-1@webinar.test',
    url: config.webinar.joinUrl,
    alarmMinutes: 15,
    timeZone: 'Europe/Berlin',
    nowMs: Date.UTC(2026, 11, 1),
  });

describe('.ics in the welcome mail', () => {
  it.each([
    ['a winter date (MEZ)', '2027-03-18T19:00:00+01:00', '20270318T190000', '2027-03-18T18:00:00.000Z'],
    [
      'the first day of summer time (MESZ)',
      '2027-03-28T19:00:00+02:00',
      '20270328T190000',
      '2027-03-28T17:00:00.000Z',
    ],
    [
      'the last day of summer time',
      '2027-10-30T19:00:00+02:00',
      '20271030T190000',
      '2027-10-30T17:00:00.000Z',
    ],
    [
      'the first day of winter time',
      '2027-10-31T19:00:00+01:00',
      '20271031T190000',
      '2027-10-31T18:00:00.000Z',
    ],
  ])('has the right Berlin time on %s', (_name, start, local, utc) => {
    const { event, toUtc } = parseIcs(ics(withStart(start)));
    expect(event['DTSTART;TZID=Europe/Berlin']).toBe(local);
    expect(new Date(toUtc(event['DTSTART;TZID=Europe/Berlin'])).toISOString()).toBe(utc);
  });

  it('ends at the right time when the clocks go back during the webinar', () => {
    // 01:30 MESZ + 150 minutes = 03:00 MEZ (the hour 02:00–03:00 happens twice).
    const { event, toUtc } = parseIcs(ics(withStart('2027-10-31T01:30:00+02:00')));
    expect(event['DTEND;TZID=Europe/Berlin']).toBe('20271031T030000');
    expect(new Date(toUtc(event['DTEND;TZID=Europe/Berlin'])).toISOString()).toBe('2027-10-31T02:00:00.000Z');
    expect(toUtc(event['DTEND;TZID=Europe/Berlin']) - toUtc(event['DTSTART;TZID=Europe/Berlin'])).toBe(
      150 * 60_000,
    );
  });

  it('is a PUBLISH calendar with a VTIMEZONE, a per-lead UID, the join link and a 15-minute alarm', async () => {
    const lead = {
      id: 'f'.repeat(64),
      email: 'x@beispiel.de',
      createdAt: '2026-12-01T10:00:00.000Z',
    } as Lead;
    const mail = await composeMail('welcome', lead, DEFAULT_CONFIG, {
      secret: 'test-mail-token-secret-0123456789abcdef',
      base: 'https://webinar.test',
      purgeDays: 30,
      now: new Date('2026-12-01T12:00:00Z'),
    });
    const text = mail.attachments![0].content;
    expect(text.split('\r\n').slice(0, 5)).toEqual([
      'BEGIN:VCALENDAR',
      'VERSION:2.0',
      'PRODID:-//Webinar Landing//DE',
      'CALSCALE:GREGORIAN',
      'METHOD:PUBLISH',
    ]);
    const { event, rules } = parseIcs(text);
    expect(rules.map((r) => [r.month, r.offsetTo])).toEqual([
      [3, 120],
      [10, 60],
    ]);
    expect(event.UID).toBe(
      `${'f'.repeat(32)}-${Date.parse(DEFAULT_CONFIG.webinar.start)}@${new URL(DEFAULT_CONFIG.seo.siteUrl).host}`,
    );
    expect(event.URL).toBe(DEFAULT_CONFIG.webinar.joinUrl);
    expect(text).toContain('TRIGGER:-PT15M');
    expect(text).not.toContain('x@beispiel.de');
    for (const line of text.split('\r\n'))
      expect(new TextEncoder().encode(line).length).toBeLessThanOrEqual(75);
  });

  it('names the time zone Germans expect in the reminder sent the day before a DST change', () => {
    const links = {
      site: 'https://webinar.test',
      unsubscribe: 'https://webinar.test/abmelden?t=x',
      erase: 'https://webinar.test/loeschen?t=y',
    };
    const summer = renderMail({
      kind: 'reminder24h',
      config: withStart('2027-03-28T19:00:00+02:00'),
      links,
      afterWebinar: false,
      purgeDays: 30,
    });
    expect(summer.subject).toBe('Erinnerung: Morgen um 19:00 Uhr MESZ beginnt das Webinar');
    expect(summer.text).toContain('Sonntag, 28. März 2027, 19:00 Uhr MESZ');
    const winter = renderMail({
      kind: 'reminder1h',
      config: withStart('2027-10-31T19:00:00+01:00'),
      links,
      afterWebinar: false,
      purgeDays: 30,
    });
    expect(winter.subject).toBe('In einer Stunde beginnt das Webinar (19:00 Uhr MEZ)');
  });
});

describe('control characters from the config', () => {
  const hostile = {
    ...DEFAULT_CONFIG,
    webinar: {
      ...DEFAULT_CONFIG.webinar,
      title: 'Webinar\r\nBcc: opfer@beispiel.de\u2028X-Evil: 1\u0085Y\u000bZ\u0000',
      subtitle: 'Zeile 1\rZeile 2\nBEGIN:VALARM',
    },
  } as WebinarConfig;

  it('never reach a mail header or start a line of the .ics', async () => {
    const lead = {
      id: 'e'.repeat(64),
      email: 'x@beispiel.de',
      createdAt: '2026-12-01T10:00:00.000Z',
    } as Lead;
    for (const kind of ['confirm', 'welcome'] as const) {
      const mail = await composeMail(kind, lead, hostile, {
        secret: 'test-mail-token-secret-0123456789abcdef',
        base: 'https://webinar.test',
        purgeDays: 30,
        now: new Date(Date.parse(DEFAULT_CONFIG.webinar.start) - 7 * 86_400_000),
      });
      expect(mail.subject).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
      for (const a of mail.attachments ?? []) {
        const lines = a.content.split('\r\n');
        expect(lines.some((l) => /^(Bcc|X-Evil)/.test(l))).toBe(false);
        // Only the calendar's own alarm: the subtitle's "BEGIN:VALARM" stayed text.
        expect(lines.filter((l) => l === 'BEGIN:VALARM')).toHaveLength(1);
        expect(a.content).not.toMatch(/[\u0000\u000b\u0085\u2028]/);
      }
    }
  });
});
