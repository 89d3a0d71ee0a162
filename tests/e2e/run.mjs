/**
 * `npm run test:e2e`: every tests/e2e/*.test.mjs through node's test runner, one file at
 * a time (each file starts its own `vite preview` + Chromium; two cores are shared), and
 * exits with the runner's code. Assumes `npm run build` already ran.
 *
 * Extra arguments are passed on: `node tests/e2e/run.mjs tests/e2e/visitor.test.mjs`
 * runs one file, `--test-name-pattern=…` filters tests.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/server.mjs';

if (!existsSync(join(ROOT, 'dist/webinar_landing/wrangler.json'))) {
  console.error('dist/ is missing: run `npm run build` first.');
  process.exit(1);
}

const args = process.argv.slice(2);
const explicit = args.filter((a) => !a.startsWith('-'));
const flags = args.filter((a) => a.startsWith('-'));
const files = explicit.length
  ? explicit
  : readdirSync(join(ROOT, 'tests/e2e'))
      .filter((f) => f.endsWith('.test.mjs'))
      .sort()
      .map((f) => join('tests/e2e', f));

const child = spawn(process.execPath, ['--test', '--test-concurrency=1', ...flags, ...files], {
  cwd: ROOT,
  stdio: 'inherit',
  env: {
    ...process.env,
    WRANGLER_SEND_METRICS: 'false',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    WRANGLER_HIDE_BANNER: 'true',
  },
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
