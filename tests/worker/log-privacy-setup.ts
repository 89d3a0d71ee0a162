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
 * address, an IP address or one of the test names (tests/helpers/personal-data.mjs).
 */
import { afterAll, expect } from 'vitest';
import { personalDataIn } from '../helpers/personal-data.mjs';

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

/** Email, IP or test-name hits in captured lines (the patterns are shared with the e2e servers' check). */
export { personalDataIn };

afterAll(() => {
  expect(captureActive(), 'the log capture was replaced during the file').toBe(true);
  expect(personalDataIn(captured), 'personal data in the worker logs').toEqual([]);
});
