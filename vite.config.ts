import { defineConfig } from 'vite';
import solid from 'vite-plugin-solid';
import { cloudflare } from '@cloudflare/vite-plugin';
import { validateContent } from './scripts/validate-content.ts';
import { separateAdminBundle } from './scripts/admin-bundle.ts';

// These machines have no internet: no metrics, no request.cf lookup, no banner. Set here
// so `npm start`, `npm run build` and `npm run preview` behave alike without a wrapper.
process.env.WRANGLER_SEND_METRICS ??= 'false';
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
process.env.WRANGLER_HIDE_BANNER ??= 'true';

// Tests and benches give each server its own local storage (fresh KV) and no debugger
// port, so parallel servers neither share leads nor race for port 9229.
const persistDir = process.env.WEBINAR_PERSIST_DIR;

export default defineConfig({
  plugins: [
    validateContent(),
    separateAdminBundle(),
    solid({ ssr: true }),
    cloudflare(persistDir ? { persistState: { path: persistDir }, inspectorPort: false } : {}),
  ],
  build: { modulePreload: { polyfill: false } },
  environments: {
    client: {
      build: {
        rollupOptions: { input: { main: 'index.html', admin: 'admin.html' } },
      },
    },
  },
});
