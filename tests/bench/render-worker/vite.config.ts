/**
 * Bundles tests/bench/render-worker/entry.ts (with the app's Solid SSR transform) into one
 * ES module for Miniflare; used by tests/bench/render.mjs only.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import solid from 'vite-plugin-solid';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  logLevel: 'warn',
  plugins: [solid({ ssr: true })],
  resolve: { conditions: ['workerd', 'worker', 'module', 'import'] },
  ssr: {
    target: 'webworker',
    noExternal: true,
    resolve: { conditions: ['workerd', 'worker', 'module', 'import'] },
  },
  build: {
    ssr: fileURLToPath(new URL('./entry.ts', import.meta.url)),
    outDir: fileURLToPath(new URL('../../../.tmp/bench-render', import.meta.url)),
    emptyOutDir: true,
    minify: true,
    rollupOptions: { output: { format: 'es', entryFileNames: 'worker.js' } },
  },
});
