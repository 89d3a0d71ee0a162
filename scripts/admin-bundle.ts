/**
 * Vite plugin (client build only): the admin bundle gets its own copy of Solid instead of
 * sharing a chunk with the visitor page.
 *
 * Why: with two inputs (index.html, admin.html) Rolldown puts the modules both use into a
 * shared chunk, tree-shaken for the union of what both import. The visitor page would then
 * download the admin's part of Solid (`render`, `createResource`, `Switch`, …) and break
 * its 12 KB JavaScript budget. Giving the admin's Solid imports distinct module ids keeps
 * the graphs apart: visitors load exactly what they did before; the admin (never on the
 * same page) carries its own runtime. See docs/decisions/024-admin-bundle.md.
 */
import { readFileSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import type { Plugin } from 'vite';

const PREFIX = '\0admin-copy:';
const ADMIN_DIR = resolve(process.cwd(), 'src/admin') + sep;
const SOLID = /^solid-js(?:\/(?:web|store|h|html))?$/;

export function separateAdminBundle(): Plugin {
  return {
    name: 'separate-admin-bundle',
    enforce: 'pre',
    apply: 'build',
    applyToEnvironment: (environment) => environment.name === 'client',
    async resolveId(source, importer) {
      if (!importer || !SOLID.test(source)) return null;
      const fromAdminCopy = importer.startsWith(PREFIX);
      if (!fromAdminCopy && !importer.startsWith(ADMIN_DIR)) return null;
      const realImporter = fromAdminCopy ? importer.slice(PREFIX.length) : importer;
      const resolved = await this.resolve(source, realImporter, { skipSelf: true });
      return resolved ? PREFIX + resolved.id : null;
    },
    load(id) {
      return id.startsWith(PREFIX) ? readFileSync(id.slice(PREFIX.length), 'utf8') : null;
    },
  };
}
