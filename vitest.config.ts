import { defineConfig } from 'vitest/config';
import solid from 'vite-plugin-solid';
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';

/**
 * Two projects side by side: `worker` runs inside workerd with the real bindings (KV,
 * rate limiter, the built assets), `dom` renders components in happy-dom.
 * `npm test` builds first, so the worker tests see the real built index.html.
 */
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
              },
            },
          }),
        ],
        test: { name: 'worker', include: ['tests/worker/**/*.test.{ts,tsx}'] },
      },
      {
        plugins: [solid()],
        resolve: { conditions: ['development', 'browser'] },
        test: {
          name: 'dom',
          environment: 'happy-dom',
          include: ['tests/src/**/*.test.{ts,tsx}'],
        },
      },
    ],
  },
});
