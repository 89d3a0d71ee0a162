/**
 * The editor's validation: the very `WebinarConfig` schema the worker uses, turned into
 * one German message per field path (`speakers.2.name`), so each input can show its own.
 */
import * as v from 'valibot';
import { WebinarConfig } from '../../lib/webinar-config';

/** Field path → German message. */
export type FieldErrors = Record<string, string>;

/** Validates a draft; an empty object means it can be published. */
export function validateDraft(draft: unknown): FieldErrors {
  const result = v.safeParse(WebinarConfig, draft);
  if (result.success) return {};
  const errors: FieldErrors = {};
  for (const issue of result.issues) {
    const path = v.getDotPath(issue) ?? 'config';
    // valibot's built-in message for a missing value is English; the schema covers the rest.
    errors[path] ??= issue.received === 'undefined' ? 'Dieses Feld fehlt.' : issue.message;
  }
  return errors;
}

/**
 * The message for one field. `nested` also picks up messages for its parts, e.g. a
 * paragraph list edited in one textarea shows `giveaway.terms.3`'s message.
 */
export function errorAt(errors: FieldErrors, path: string, nested = false): string | undefined {
  if (errors[path]) return errors[path];
  if (!nested) return undefined;
  const key = Object.keys(errors).find((k) => k.startsWith(`${path}.`));
  return key ? errors[key] : undefined;
}

/** Element id of a field's input, derived from its path. */
export const fieldId = (path: string) => `f-${path.replace(/[^a-zA-Z0-9]+/g, '-')}`;
