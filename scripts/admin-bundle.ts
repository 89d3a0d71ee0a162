/**
 * Vite plugin (client build only): the admin bundle shares no JavaScript chunk with the
 * visitor page.
 *
 * Why: with two inputs (index.html, admin.html) Rolldown puts modules both graphs use
 * (Solid, valibot, src/lib) into shared chunks, tree-shaken for the union of what both
 * import. The visitor page would then download the admin's part of those libraries and
 * break its 12 KB JavaScript budget. So every JS module reached from `src/admin/**` gets
 * a distinct id (`?admin-copy`): the visitor graph is exactly what it was without the
 * admin, and the admin (never on the same page) carries its own copies.
 * See docs/decisions/024-admin-bundle.md.
 */
import { resolve, sep } from 'node:path';
import type { Plugin } from 'vite';

const TAG = '?admin-copy';
const ADMIN_DIR = resolve(process.cwd(), 'src/admin') + sep;
/** Only script modules are copied; CSS and assets keep their normal pipeline. */
const SCRIPT = /\.(?:[mc]?[jt]sx?)$/;

export function separateAdminBundle(): Plugin {
  return {
    name: 'separate-admin-bundle',
    enforce: 'pre',
    apply: 'build',
    applyToEnvironment: (environment) => environment.name === 'client',
    async resolveId(source, importer) {
      if (!importer || source.includes('?') || source.startsWith('\0')) return null;
      const cleanImporter = importer.replace(/\?.*$/, '');
      if (!importer.endsWith(TAG) && !cleanImporter.startsWith(ADMIN_DIR)) return null;
      const resolved = await this.resolve(source, cleanImporter, { skipSelf: true });
      if (!resolved || resolved.external || !SCRIPT.test(resolved.id)) return null;
      return resolved.id + TAG;
    },
  };
}
