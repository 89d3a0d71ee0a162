/**
 * Time arithmetic for the webinar: its phase (before / live / after) and German date
 * formatting in the webinar's time zone. Pure functions of the config and a clock.
 */
import type { WebinarConfig } from './webinar-config';

export type Phase = 'before' | 'live' | 'after';

export interface Schedule {
  startMs: number;
  endMs: number;
}

export function scheduleOf(webinar: WebinarConfig['webinar']): Schedule {
  const startMs = Date.parse(webinar.start);
  return { startMs, endMs: startMs + webinar.durationMinutes * 60_000 };
}

export function phaseAt(schedule: Schedule, nowMs: number): Phase {
  if (nowMs < schedule.startMs) return 'before';
  if (nowMs < schedule.endMs) return 'live';
  return 'after';
}

/** Milliseconds until the phase can next change, for cache lifetimes. */
export function msUntilNextPhase(schedule: Schedule, nowMs: number): number {
  if (nowMs < schedule.startMs) return schedule.startMs - nowMs;
  if (nowMs < schedule.endMs) return schedule.endMs - nowMs;
  return Number.POSITIVE_INFINITY;
}

const dateFormat = new Intl.DateTimeFormat('de-DE', {
  weekday: 'long',
  day: 'numeric',
  month: 'long',
  year: 'numeric',
  timeZone: 'Europe/Berlin',
});
const timeFormat = new Intl.DateTimeFormat('de-DE', {
  hour: '2-digit',
  minute: '2-digit',
  timeZone: 'Europe/Berlin',
});

/** "MEZ" or "MESZ": the abbreviation Germans expect, derived from the offset on that day. */
export function berlinZoneName(ms: number): 'MEZ' | 'MESZ' {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: 'Europe/Berlin',
    timeZoneName: 'shortOffset',
  }).formatToParts(ms);
  const offset = parts.find((p) => p.type === 'timeZoneName')?.value ?? '';
  return offset === 'GMT+2' ? 'MESZ' : 'MEZ';
}

/** e.g. "Donnerstag, 18. März 2027" */
export function formatGermanDate(ms: number): string {
  return dateFormat.format(ms);
}

/** e.g. "19:00 Uhr MEZ" */
export function formatGermanTime(ms: number): string {
  return `${timeFormat.format(ms)} Uhr ${berlinZoneName(ms)}`;
}

/** e.g. "Donnerstag, 18. März 2027, 19:00 Uhr MEZ" */
export function formatGermanDateTime(ms: number): string {
  return `${formatGermanDate(ms)}, ${formatGermanTime(ms)}`;
}

const berlinPartsFormat = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Europe/Berlin',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
});

export interface WallClock {
  year: string;
  month: string;
  day: string;
  hour: string;
  minute: string;
  second: string;
}

/** The Berlin wall-clock time of an instant, as zero-padded fields. */
export function berlinWallClock(ms: number): WallClock {
  const p = Object.fromEntries(berlinPartsFormat.formatToParts(ms).map((x) => [x.type, x.value]));
  return { year: p.year, month: p.month, day: p.day, hour: p.hour, minute: p.minute, second: p.second };
}
