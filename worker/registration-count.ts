/**
 * "Bereits N Anmeldungen" on the landing page: the number of confirmed registrations,
 * counted in D1 and never made up. Counted at most once a minute per isolate; after an
 * isolate's first count the page never waits for D1 again: a count older than a minute
 * is served once more while the next one runs in the background (stale while
 * revalidating). A failed count gives null, and the page leaves the line out.
 * See docs/decisions/072-registration-count.md.
 */
import { errorMessage, log } from './log';

/** How long a count is served before it is counted again. */
export const COUNT_TTL_MS = 60_000;

const COUNT_SQL = "SELECT COUNT(*) AS n FROM leads WHERE status = 'confirmed'";

let cached: { at: number; value: number | null } | undefined;
let counting: Promise<number | null> | undefined;

/** Forgets the cached count (tests). */
export function resetRegistrationCount() {
  cached = undefined;
  counting = undefined;
}

async function count(db: D1Database): Promise<number | null> {
  try {
    const row = await db.prepare(COUNT_SQL).first<{ n: number }>();
    return typeof row?.n === 'number' ? row.n : null;
  } catch (error) {
    log.error('registrations.count_failed', { message: errorMessage(error) });
    return null;
  }
}

/** One count at a time per isolate, however many requests want it. */
function recount(db: D1Database, nowMs: number): Promise<number | null> {
  counting ??= count(db)
    .then((value) => {
      cached = { at: nowMs, value };
      return value;
    })
    .finally(() => (counting = undefined));
  return counting;
}

/**
 * Confirmed registrations, or null when D1 could not count them. Fresh within
 * `COUNT_TTL_MS`; past that the previous count is answered at once and a new one is
 * started, handed to `waitUntil` so the runtime lets it finish after the response.
 */
export function confirmedRegistrations(
  db: D1Database,
  nowMs: number,
  waitUntil?: (promise: Promise<unknown>) => void,
): Promise<number | null> {
  if (!cached) return recount(db, nowMs);
  if (nowMs - cached.at >= COUNT_TTL_MS) {
    const next = recount(db, nowMs);
    waitUntil?.(next);
  }
  return Promise.resolve(cached.value);
}
