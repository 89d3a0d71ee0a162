/**
 * Vite plugin: refuses to build or start when `src/content/webinar.json` does not pass
 * `WebinarConfig`, printing each problem as `field.path: reason`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Plugin } from 'vite';
import { describeConfigIssues, parseWebinarConfig } from '../src/lib/webinar-config.ts';

/** npm scripts, Vite and Vitest all run from the repository root. */
export const CONTENT_PATH = resolve(process.cwd(), 'src/content/webinar.json');

/** Returns the problems with the content file, or an empty list. */
export function checkContentFile(path = CONTENT_PATH): string[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    return [`(Datei): ${path} ist kein gültiges JSON – ${(error as Error).message}`];
  }
  const result = parseWebinarConfig(json);
  return result.success ? [] : describeConfigIssues(result.issues);
}

export function validateContent(path = CONTENT_PATH): Plugin {
  const check = () => {
    const problems = checkContentFile(path);
    if (problems.length) {
      throw new Error(
        `The webinar config src/content/webinar.json is invalid:\n  - ${problems.join('\n  - ')}`,
      );
    }
  };
  return {
    name: 'validate-webinar-content',
    // Runs once for `vite build` and `vite dev`, before anything is bundled.
    config: check,
    handleHotUpdate(ctx) {
      if (ctx.file === path) {
        const problems = checkContentFile(path);
        if (problems.length)
          ctx.server.config.logger.error(`webinar.json is invalid:\n  - ${problems.join('\n  - ')}`);
      }
    },
  };
}
