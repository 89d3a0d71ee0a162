import { defineConfig } from 'vite';
import solid from 'vite-plugin-solid';
import { cloudflare } from '@cloudflare/vite-plugin';
import { validateContent } from './scripts/validate-content.ts';

export default defineConfig({
  plugins: [validateContent(), solid({ ssr: true }), cloudflare()],
  build: { modulePreload: { polyfill: false } },
  environments: {
    client: {
      build: {
        rollupOptions: { input: { main: 'index.html' } },
      },
    },
  },
});
