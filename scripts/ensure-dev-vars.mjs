// `npm start` on a fresh clone: use the documented local values when .dev.vars is absent.
import { copyFileSync, existsSync } from 'node:fs';

if (!existsSync('.dev.vars')) {
  copyFileSync('.dev.vars.example', '.dev.vars');
  console.log('Created .dev.vars from .dev.vars.example (local development values).');
}

// `npm start` only: say where the local admin is and which dev tokens sign in there.
if (process.env.npm_lifecycle_event === 'start') {
  const { readFileSync } = await import('node:fs');
  const vars = Object.fromEntries(
    [...readFileSync('.dev.vars', 'utf8').matchAll(/^([A-Z_]+)="?([^"\n]*)"?$/gm)].map((m) => [m[1], m[2]]),
  );
  console.log(
    `Admin: http://localhost:5173/admin (port as printed by Vite below)\n` +
      `  ops token:       ${vars.OPS_TOKEN ?? '(OPS_TOKEN missing in .dev.vars)'}\n` +
      `  marketing token: ${vars.MARKETING_TOKEN ?? '(MARKETING_TOKEN missing in .dev.vars)'}`,
  );
}
