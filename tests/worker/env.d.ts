/** Bindings only the test pool has (vitest.config.ts). */
declare namespace Cloudflare {
  interface Env {
    /** migrations/ as read by readD1Migrations, applied per test file (d1-setup.ts). */
    TEST_MIGRATIONS: import('cloudflare:test').D1Migration[];
  }
}
