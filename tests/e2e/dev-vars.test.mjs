/**
 * `npm start` / `npm run preview` keep `.dev.vars` in step with `.dev.vars.example`
 * (scripts/ensure-dev-vars.mjs): a fresh clone gets a copy, an existing checkout gets the
 * keys it lacks with their comments, and no value a developer set is ever changed.
 * Runs on temp files, never on the checkout's own `.dev.vars`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { syncDevVars } from '../../scripts/ensure-dev-vars.mjs';
import { ROOT } from '../helpers/server.mjs';

const dir = mkdtempSync(join(tmpdir(), 'webinar-dev-vars-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const EXAMPLE = `# Key for lead ids.
LEAD_KEY_SECRET="example-secret"

# Admin tokens, one per role.
OPS_TOKEN="example-ops"
MARKETING_TOKEN="example-marketing"
# A setting added later.
NEW_SETTING="1"
`;

describe('syncing .dev.vars from .dev.vars.example', () => {
  it('copies the example when .dev.vars is missing', () => {
    const example = join(dir, 'a.example');
    const target = join(dir, 'a.vars');
    writeFileSync(example, EXAMPLE);
    assert.deepEqual(syncDevVars(example, target), { created: true, added: [] });
    assert.equal(readFileSync(target, 'utf8'), EXAMPLE);
  });

  it('adds the missing keys with their comments and keeps every existing value', () => {
    const example = join(dir, 'b.example');
    const target = join(dir, 'b.vars');
    writeFileSync(example, EXAMPLE);
    const mine = 'LEAD_KEY_SECRET="my-own-secret"\nOPS_TOKEN=mine-without-quotes';
    writeFileSync(target, mine);
    assert.deepEqual(syncDevVars(example, target), {
      created: false,
      added: ['MARKETING_TOKEN', 'NEW_SETTING'],
    });
    const text = readFileSync(target, 'utf8');
    assert.ok(text.startsWith(`${mine}\n`), 'the existing lines stay first and unchanged');
    assert.match(text, /^MARKETING_TOKEN="example-marketing"$/m);
    assert.match(text, /# A setting added later\.\nNEW_SETTING="1"/);
    assert.equal(text.match(/^LEAD_KEY_SECRET=/gm).length, 1);
    assert.equal(text.match(/^OPS_TOKEN=/gm).length, 1);

    // A second run finds nothing to add and writes nothing.
    assert.deepEqual(syncDevVars(example, target), { created: false, added: [] });
    assert.equal(readFileSync(target, 'utf8'), text);
  });

  it('knows every key of the repository example, so a complete .dev.vars stays as it is', () => {
    const target = join(dir, 'c.vars');
    const example = join(ROOT, '.dev.vars.example');
    assert.equal(syncDevVars(example, target).created, true);
    assert.deepEqual(syncDevVars(example, target), { created: false, added: [] });
  });
});
