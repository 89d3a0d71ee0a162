/**
 * The test figures of the load bench's report (issue 6): runs the bad-input, fault and
 * security test files (vitest, worker project) and reads their JSON report: tests passed,
 * generated bodies (from the titles, "(N bodies)"), faults injected and whether each held.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { QUIET_ENV, ROOT } from '../helpers/server.mjs';

const REPORT_TESTS = [
  'tests/worker/fuzz-registration.test.ts',
  'tests/worker/fuzz-duplicate-storm.test.ts',
  'tests/worker/fuzz-links-and-admin.test.ts',
  'tests/worker/security-body-limits.test.ts',
  'tests/worker/security-routes.test.ts',
  'tests/worker/log-privacy.test.ts',
  'tests/worker/register.test.ts',
  'tests/worker/lead-store.test.ts',
  'tests/worker/export.test.ts',
  'tests/worker/optin.test.ts',
  'tests/worker/mail-consumer.test.ts',
].filter((f) => existsSync(join(ROOT, f)));
/** Test names (regex) that inject a fault, for the "faults injected" row. */
const FAULT_TESTS =
  /(KV|D1) fails|(KV|D1) write hangs|limiter itself fails|corrupt metadata|fails mid-way|EMAIL binding fails|queue is down|KV failure, limiter failure/i;
/** The fault a test injects, in a word or two (the first alternative its title matches). */
export const faultLabel = (title) =>
  (title.match(FAULT_TESTS)?.[0] ?? title).toLowerCase().replace(/,.*$/, '');

/**
 * Runs the report's test files; null when vitest wrote no report.
 * @param {(line?: string) => void} log
 */
export function runReportTests(log) {
  const out = join(mkdtempSync(join(tmpdir(), 'bench-tests-')), 'report.json');
  log(`  running ${REPORT_TESTS.length} test files (worker project) …`);
  spawnSync(
    process.execPath,
    [
      join(ROOT, 'node_modules/vitest/vitest.mjs'),
      'run',
      '--project',
      'worker',
      '--reporter=json',
      `--outputFile=${out}`,
      ...REPORT_TESTS,
    ],
    { cwd: ROOT, env: { ...process.env, ...QUIET_ENV }, stdio: 'ignore' },
  );
  if (!existsSync(out)) return null;
  const report = JSON.parse(readFileSync(out, 'utf8'));
  rmSync(dirname(out), { recursive: true, force: true });
  const tests = report.testResults.flatMap((f) => f.assertionResults);
  const passed = tests.filter((t) => t.status === 'passed');
  const bodies = passed
    .map((t) => /\(([\d,_]+) bodies\)/.exec(t.title)?.[1])
    .filter(Boolean)
    .reduce((sum, n) => sum + Number(n.replace(/[,_]/g, '')), 0);
  const faults = tests.filter((t) => FAULT_TESTS.test(t.title));
  return {
    total: tests.length,
    passed: passed.length,
    // The fast-check seed is in the first lines of the message: FUZZ_SEED=<seed> replays it.
    failed: tests
      .filter((t) => t.status === 'failed')
      .map(
        (t) =>
          `${t.fullName}: ${(t.failureMessages?.[0] ?? '').split('\n').slice(0, 2).join(' ').slice(0, 200)}`,
      ),
    fileErrors: report.testResults
      .filter((f) => f.status === 'failed' && !f.assertionResults.some((t) => t.status === 'failed'))
      .map((f) => f.name.replace(ROOT + '/', '')),
    bodies,
    faults: faults.map((t) => ({ title: t.title, passed: t.status === 'passed' })),
  };
}
