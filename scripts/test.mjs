/**
 * `npm test`: every test, with the whole output checked for personal data (issue 6, "No
 * personal data in logs: run the whole test suite with a log capture").
 *
 * Runs, in order and stopping at the first failure: the local `.dev.vars`, `vite build`
 * (the worker tests read the built index.html), `vitest run` (workerd and DOM projects),
 * and the Chromium e2e tests. Their output goes to the terminal as usual and is also kept;
 * at the end, any email address, IP address or distinctive test name in it fails the run.
 * That covers what the finer checks cannot see: workerd's and Miniflare's own output in
 * the vitest pool. (Each vitest file's worker console and each e2e server's output are
 * checked on their own as well: tests/worker/log-privacy-setup.ts, tests/helpers/server.mjs.)
 * The output of a failed step is not checked: its assertion diffs show test data on purpose.
 */
import { spawn } from 'node:child_process';
import { personalDataIn, serverLines } from '../tests/helpers/personal-data.mjs';

const env = {
  ...process.env,
  WRANGLER_SEND_METRICS: 'false',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  WRANGLER_HIDE_BANNER: 'true',
  // Output is piped through this script; keep the colours a terminal would get.
  ...(process.stdout.isTTY && !process.env.NO_COLOR ? { FORCE_COLOR: '1' } : {}),
};

const steps = [
  ['local .dev.vars', ['scripts/ensure-dev-vars.mjs']],
  ['build', ['node_modules/vite/bin/vite.js', 'build']],
  ['vitest', ['node_modules/vitest/vitest.mjs', 'run', ...process.argv.slice(2)]],
  ['e2e', ['tests/e2e/run.mjs']],
];

let output = '';
for (const [name, args] of steps) {
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env, stdio: ['inherit', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      output += d;
    });
    child.stderr.on('data', (d) => {
      process.stderr.write(d);
      output += d;
    });
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });
  if (code !== 0) {
    console.error(`\nnpm test: step "${name}" failed (exit ${code}).`);
    process.exit(code);
  }
}

const leaks = personalDataIn(serverLines(output));
if (leaks.length) {
  console.error(`\nnpm test: personal data in the test output (${leaks.length} hits):`);
  for (const hit of leaks.slice(0, 20)) console.error(`  ${hit}`);
  process.exit(1);
}
console.log('\nnpm test: all steps passed; no email address, IP address or test name in the output.');
