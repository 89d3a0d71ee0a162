/**
 * Log capture for every test file of the worker and dom projects (a `setupFiles` entry of
 * both in vitest.config.ts), issue 6 "No personal data in logs".
 *
 * The worker runs in the same isolate as the tests (SELF and `app.request` alike), so
 * replacing `globalThis.console` with a recording Proxy sees every line the worker logs.
 * A Proxy rather than patched methods, because tests silence the console with
 * `vi.spyOn(console, 'error').mockImplementation(...)`: the spy lands on the real console
 * behind the Proxy, and the Proxy still records each call before handing it to the spy.
 *
 * After each test file, `afterAll` fails the file when a captured line holds an email
 * address, an IP address or one of the test names below.
 */
import { afterAll, expect } from 'vitest';

const LEVELS = new Set<PropertyKey>(['log', 'info', 'warn', 'error', 'debug', 'trace']);

export interface CapturedLine {
  level: string;
  text: string;
}

const captured: CapturedLine[] = [];

function render(arg: unknown): string {
  if (typeof arg === 'string') return arg;
  if (arg instanceof Error) return `${arg.name}: ${arg.message}\n${arg.stack ?? ''}`;
  try {
    return JSON.stringify(arg) ?? String(arg);
  } catch {
    return String(arg);
  }
}

const realConsole = globalThis.console;
const recording = new Proxy(realConsole, {
  get(target, prop) {
    const value: unknown = Reflect.get(target, prop);
    if (typeof value !== 'function' || !LEVELS.has(prop)) return value;
    return (...args: unknown[]) => {
      captured.push({ level: String(prop), text: args.map(render).join(' ') });
      return (value as (...a: unknown[]) => unknown).apply(target, args);
    };
  },
});
globalThis.console = recording;

/** Position in the capture, for `logsSince`. */
export function logMark(): number {
  return captured.length;
}

/** Lines captured since `mark` (all lines without one). */
export function logsSince(mark = 0): CapturedLine[] {
  return captured.slice(mark);
}

/** Drops lines since `mark`: only for a test that plants a leak on purpose to prove the check. */
export function forgetLogsSince(mark: number) {
  captured.splice(mark);
}

/** Whether the capture is in place (the Proxy is the global console). */
export function captureActive(): boolean {
  return globalThis.console === recording;
}

const EMAIL = /[\p{L}\p{N}._%+'-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)+/giu;
const IPV4 = /(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])/g;
// Four or more hex groups, or a `::` form: no clock time (10:42:18) looks like that.
const IPV6 =
  /(?<![\w:])(?:(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:)*:(?::[0-9a-f]{1,4})+)(?![\w:])/gi;
/** Distinctive first names the tests send (a name has no pattern to look for). */
const TEST_NAMES = ['Jürgen', 'Zoë-Marie', 'José', "O'Brien"];

/** Personal data found in `lines`: each hit with the line it was in. */
export function personalDataIn(lines: CapturedLine[], extra: string[] = []): string[] {
  const hits: string[] = [];
  for (const { level, text } of lines) {
    const found = [
      ...(text.match(EMAIL) ?? []),
      ...(text.match(IPV4) ?? []),
      ...(text.match(IPV6) ?? []),
      ...[...TEST_NAMES, ...extra].filter((s) => s && text.includes(s)),
    ];
    for (const f of found) hits.push(`${f}  in console.${level}: ${text.slice(0, 300)}`);
  }
  return hits;
}

afterAll(() => {
  expect(captureActive(), 'the log capture was replaced during the file').toBe(true);
  expect(personalDataIn(captured), 'personal data in the worker logs').toEqual([]);
});
