/** The JSON Schema of `WebinarConfig`, as committed beside the default content. */
import { toJsonSchema } from '@valibot/to-json-schema';
import { WebinarConfig } from './webinar-config.ts';

export function webinarConfigJsonSchema() {
  // Transforms (trim, normalise) and custom checks have no JSON Schema form; the schema
  // is for autocompletion, valibot stays the judge.
  return toJsonSchema(WebinarConfig, { errorMode: 'ignore' });
}
