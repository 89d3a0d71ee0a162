import { defineConfig } from 'vitest/config';
import solid from 'vite-plugin-solid';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-pool-workers';

// No internet on these machines: no metrics, no request.cf lookup (see vite.config.ts).
process.env.WRANGLER_SEND_METRICS ??= 'false';
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
process.env.WRANGLER_HIDE_BANNER ??= 'true';

/**
 * Two projects side by side: `worker` runs inside workerd with the real bindings (KV,
 * rate limiter, the built assets), `dom` renders components in happy-dom.
 * `npm test` builds first, so the worker tests see the real built index.html.
 */
// Applied to each test file's own (isolated) D1 database by tests/worker/d1-setup.ts.
const migrations = await readD1Migrations('./migrations');

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          solid({ ssr: true }),
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              assets: { directory: './dist/client', binding: 'ASSETS' },
              bindings: {
                LEAD_KEY_SECRET: 'test-lead-key-secret-0123456789abcdef',
                ENVIRONMENT: 'test',
                MAIL_TOKEN_SECRET: 'test-mail-token-secret-0123456789abcdef',
                DEV_OUTBOX: '1',
                OPS_TOKEN: 'test-ops-token-0123456789abcdef',
                MARKETING_TOKEN: 'test-marketing-token-0123456789abcdef',
                SESSION_SECRET: 'test-session-secret-0123456789abcdef',
                ACCESS_TEAM_DOMAIN: '',
                ACCESS_AUD: '',
                ACCESS_ROLES: '',
                // Replay or lengthen the fuzz tests (tests/worker/fuzz-*.test.ts): workerd sees
                // no host environment, so they come in as bindings.
                FUZZ_SEED: process.env.FUZZ_SEED ?? '',
                FUZZ_SCALE: process.env.FUZZ_SCALE ?? '1',
                TEST_MIGRATIONS: migrations,
                // The cheapest challenge, so each test's registration solves it at once; the
                // budgets high, so only tests that lower them are paced.
                ALTCHA_MAX_NUMBER: '20',
                MAIL_PER_DOMAIN_HOURLY: '100000',
                MAIL_GLOBAL_HOURLY: '100000',
                ATTACK_REFUSALS_10MIN: '1000000',
              },
            },
          }),
        ],
        test: {
          name: 'worker',
          include: ['tests/worker/**/*.test.{ts,tsx}'],
          // Records every console line of the worker; fails a file that logged personal data.
          setupFiles: ['tests/worker/d1-setup.ts', 'tests/worker/log-privacy-setup.ts'],
        },
      },
      {
        plugins: [solid()],
        resolve: { conditions: ['development', 'browser'] },
        test: {
          name: 'dom',
          environment: 'happy-dom',
          include: ['tests/src/**/*.test.{ts,tsx}'],
          // The same log check for the front end's own console lines.
          setupFiles: ['tests/worker/log-privacy-setup.ts'],
        },
      },
    ],
  },
});
