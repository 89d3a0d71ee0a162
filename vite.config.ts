import { defineConfig } from 'vite';
import solid from 'vite-plugin-solid';
import { cloudflare } from '@cloudflare/vite-plugin';
import { validateContent } from './scripts/validate-content.ts';
import { separateAdminBundle } from './scripts/admin-bundle.ts';

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
