/**
 * Calendar days in Europe/Berlin for the ops routes: the day of an instant (stats per day,
 * export file names), the instant of a day's midnight, and the `since` filter of the
 * export. Wall-clock conversion itself is src/lib/schedule.ts (`berlinWallClock`).
 */
import { berlinWallClock } from '../src/lib/schedule';

/** Calendar day (YYYY-MM-DD) of an instant in Europe/Berlin. */
export function berlinDay(ms: number): string {
  const p = berlinWallClock(ms);
  return `${p.year}-${p.month}-${p.day}`;
}

/** Offset of Europe/Berlin from UTC at an instant, in ms (+1 h or +2 h). */
function berlinOffsetMs(ms: number): number {
  const p = berlinWallClock(ms);
  const wall = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  return wall - Math.floor(ms / 1000) * 1000;
}

/** Midnight of a Berlin calendar day as an instant. */
export function berlinMidnight(day: string): number {
  const [y, m, d] = day.split('-').map(Number);
  const utcMidnight = Date.UTC(y, m - 1, d);
  return utcMidnight - berlinOffsetMs(utcMidnight - berlinOffsetMs(utcMidnight));
}

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * `since` as an instant: `YYYY-MM-DD` (midnight in Europe/Berlin) or ISO 8601 with `Z` or
 * an offset. Null for anything else, including impossible dates like 2026-02-30.
 */
export function parseSince(value: string): number | null {
  const d = DATE_ONLY.exec(value) ?? DATE_TIME.exec(value);
  if (!d) return null;
  const [y, mo, da] = [Number(d[1]), Number(d[2]), Number(d[3])];
  const probe = new Date(Date.UTC(y, mo - 1, da));
  if (probe.getUTCFullYear() !== y || probe.getUTCMonth() !== mo - 1 || probe.getUTCDate() !== da)
    return null;
  if (y < 2000 || y > 2100) return null;
  const ms = DATE_ONLY.test(value) ? berlinMidnight(value) : Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

/**
 * Counts per UTC hour (hour = floor(ms / 3600000)) summed into Berlin days, oldest first,
 * days without any as zero, at most the last 366 days. Berlin's offset is a whole number
 * of hours, so every UTC hour lies within one Berlin day: SQL can group by hour, which it
 * can do without knowing any time zone.
 */
export function berlinDaysFromHours(perHour: Iterable<{ hour: number; count: number }>) {
  const perDay = new Map<string, number>();
  for (const { hour, count } of perHour) {
    const day = berlinDay(hour * 3_600_000);
    perDay.set(day, (perDay.get(day) ?? 0) + count);
  }
  const days = [...perDay.keys()].sort();
  if (!days.length) return [];
  const utcOf = (day: string) => Date.UTC(+day.slice(0, 4), +day.slice(5, 7) - 1, +day.slice(8, 10));
  const out: { day: string; count: number }[] = [];
  const firstMs = utcOf(days[0]);
  for (
    let cursor = utcOf(days[days.length - 1]);
    cursor >= firstMs && out.length < 366;
    cursor -= 86_400_000
  ) {
    const day = new Date(cursor).toISOString().slice(0, 10);
    out.push({ day, count: perDay.get(day) ?? 0 });
  }
  return out.reverse();
}
