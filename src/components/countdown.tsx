/**
 * Countdown to the start. The worker writes the values of the moment it answers into
 * every response (the cached page holds a slot for them, see worker/render.tsx), so the
 * page reads right without JavaScript; the browser then only keeps the numbers running
 * from those very values, so nothing jumps when the script arrives and a wrong clock on
 * the visitor's device changes nothing.
 */

/** Element id of the countdown; the script finds it by this. */
export const COUNTDOWN_ID = 'countdown';
/** Replaced per response by `countdownCells` (an HTML comment survives Solid's SSR). */
export const COUNTDOWN_SLOT = '<!--app-countdown-->';

const UNITS = ['Tage', 'Std.', 'Min.', 'Sek.'];
const SECONDS = [86400, 3600, 60, 1];
const STARTING = 'Das Webinar beginnt jetzt.';

/** Days, hours, minutes and seconds left; hours to seconds zero-padded. */
export function countdownValues(ms: number): string[] {
  let s = Math.max(0, Math.floor(ms / 1000));
  return SECONDS.map((unit, i) => {
    const n = Math.floor(s / unit);
    s -= n * unit;
    return i ? String(n).padStart(2, '0') : String(n);
  });
}

/** The countdown's cells for `ms` left, as HTML (numbers and fixed words only). */
export function countdownCells(ms: number): string {
  if (ms < 1000) return `<span class="cd-live">${STARTING}</span>`;
  return countdownValues(ms)
    .map((value, i) => `<span class="cd-cell"><b>${value}</b> ${UNITS[i]}</span>`)
    .join('');
}

/** The server-rendered box the values go into. */
export function Countdown() {
  return (
    <div
      id={COUNTDOWN_ID}
      class="countdown"
      role="timer"
      aria-label="Zeit bis zum Beginn"
      innerHTML={COUNTDOWN_SLOT}
    />
  );
}

/**
 * Browser: keeps the server's numbers running. They were right when the response was
 * written, roughly when this page's navigation started (`performance.now()` counts from
 * there), so the time left is read back from them instead of from the device clock.
 */
export function runCountdown(el: HTMLElement) {
  const cells = el.getElementsByTagName('b');
  if (cells.length !== 4) return;
  const end = SECONDS.reduce((sum, unit, i) => sum + Number(cells[i].textContent) * unit, 0) * 1000;
  const tick = () => {
    const left = end - performance.now();
    if (left < 1000) {
      el.textContent = STARTING;
      return;
    }
    countdownValues(left).forEach((value, i) => (cells[i].textContent = value));
    setTimeout(tick, left % 1000 || 1000);
  };
  tick();
}
