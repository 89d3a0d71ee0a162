/**
 * Writes src/content/webinar.schema.json from the valibot `WebinarConfig`, for editor
 * autocompletion in webinar.json. A test fails when the committed file is out of date.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { webinarConfigJsonSchema } from '../src/lib/webinar-config-json-schema.ts';

const out = fileURLToPath(new URL('../src/content/webinar.schema.json', import.meta.url));
writeFileSync(out, JSON.stringify(webinarConfigJsonSchema(), null, 2) + '\n');
console.log(`wrote ${out}`);
