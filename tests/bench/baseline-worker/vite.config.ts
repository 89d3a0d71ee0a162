/** Builds and previews the baseline worker with the same plugin as the app (tests/bench/load.mjs). */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { cloudflare } from '@cloudflare/vite-plugin';

const root = fileURLToPath(new URL('.', import.meta.url));
const persistDir = process.env.WEBINAR_PERSIST_DIR;

export default defineConfig({
  root,
  plugins: [
    cloudflare(
      persistDir ? { persistState: { path: persistDir }, inspectorPort: false } : { inspectorPort: false },
    ),
  ],
});
