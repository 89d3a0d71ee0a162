/**
 * `npm start` and `npm run preview` (and `npm test`): the local secrets in `.dev.vars`.
 * A fresh clone gets a copy of `.dev.vars.example`; an existing checkout gets every key the
 * example has and `.dev.vars` lacks, appended with its comment, so a new setting reaches
 * it. A value already in `.dev.vars` is never changed.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const KEY_LINE = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=/;

/**
 * The example's settings, each with the comment lines right above it.
 * @param {string} text
 * @returns {{ key: string, lines: string[] }[]}
 */
function settingsOf(text) {
  const out = [];
  let comment = [];
  for (const line of text.split(/\r?\n/)) {
    const key = KEY_LINE.exec(line)?.[1];
    if (key) {
      out.push({ key, lines: [...comment, line] });
      comment = [];
    } else if (line.trim().startsWith('#')) comment.push(line);
    else comment = [];
  }
  return out;
}

/**
 * Creates `target` from `example`, or appends the example's keys that `target` lacks.
 * @param {string} example path of `.dev.vars.example`
 * @param {string} target  path of `.dev.vars`
 * @returns {{ created: boolean, added: string[] }}
 */
export function syncDevVars(example, target) {
  const exampleText = readFileSync(example, 'utf8');
  if (!existsSync(target)) {
    writeFileSync(target, exampleText);
    return { created: true, added: [] };
  }
  const current = readFileSync(target, 'utf8');
  const have = new Set(current.split(/\r?\n/).flatMap((l) => KEY_LINE.exec(l)?.[1] ?? []));
  const missing = settingsOf(exampleText).filter((s) => !have.has(s.key));
  if (missing.length) {
    const block = missing.map((s) => s.lines.join('\n')).join('\n');
    const sep = current === '' || current.endsWith('\n') ? '' : '\n';
    writeFileSync(target, `${current}${sep}\n# Added from .dev.vars.example\n${block}\n`);
  }
  return { created: false, added: missing.map((s) => s.key) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { created, added } = syncDevVars('.dev.vars.example', '.dev.vars');
  if (created) console.log('Created .dev.vars from .dev.vars.example (local development values).');
  if (added.length) console.log(`Added to .dev.vars from .dev.vars.example: ${added.join(', ')}`);

  // `npm start` only: say where the local admin is and which dev tokens sign in there.
  if (process.env.npm_lifecycle_event === 'start') {
    const vars = Object.fromEntries(
      [...readFileSync('.dev.vars', 'utf8').matchAll(/^([A-Z_]+)="?([^"\n]*)"?$/gm)].map((m) => [m[1], m[2]]),
    );
    console.log(
      `Admin: http://localhost:5173/admin (port as printed by Vite below)\n` +
        `  ops token:       ${vars.OPS_TOKEN ?? '(OPS_TOKEN missing in .dev.vars)'}\n` +
        `  marketing token: ${vars.MARKETING_TOKEN ?? '(MARKETING_TOKEN missing in .dev.vars)'}`,
    );
  }
}
