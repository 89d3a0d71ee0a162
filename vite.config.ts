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
    {
      // The visitor page's island script only enhances what is already painted: fetch it at
      // low priority (Vite rewrites the tag, so the attribute is added here). See decision 011.
      name: 'island-script-low-priority',
      transformIndexHtml: {
        order: 'post',
        handler: (html, ctx) =>
          ctx.path === '/index.html'
            ? html.replace(
                '<script type="module" crossorigin',
                '<script type="module" fetchpriority="low" crossorigin',
              )
            : html,
      },
    },
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
