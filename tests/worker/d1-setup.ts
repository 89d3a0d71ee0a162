/** Applies migrations/ to the test file's own D1 database before its tests run. */
import { applyD1Migrations, env } from 'cloudflare:test';

await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
