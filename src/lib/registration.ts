/**
 * `Registration`: the one schema for what a visitor submits, used by the form in the
 * browser (inline validation) and by the worker (the border). Keep it small: it ships
 * in the visitor bundle.
 *
 * Booleans arrive as JSON `true` from the enhanced form or as a checkbox's `"on"` from a
 * plain form post; both normalise to `true`, anything absent to `false`.
 */
import * as v from 'valibot';
import { isEmailAddress, MAX_EMAIL_LENGTH } from './email';

/** Field names of the public form contract (see README, "Registration API"). */
export const REGISTRATION_FIELDS = [
  'email',
  'firstName',
  'privacy',
  'giveaway',
  'newsletter',
  'website',
  'referrer',
  'utm_source',
  'utm_medium',
  'utm_campaign',
  'utm_term',
  'utm_content',
] as const;

/** The honeypot: invisible to people, irresistible to form-filling bots. */
export const HONEYPOT_FIELD = 'website';

const MSG = {
  emailMissing: 'Bitte geben Sie Ihre E-Mail-Adresse ein.',
  emailInvalid: 'Bitte geben Sie eine gültige E-Mail-Adresse ein, z. B. name@beispiel.de.',
  emailLong: 'Die E-Mail-Adresse darf höchstens 254 Zeichen lang sein.',
  nameLong: 'Der Vorname darf höchstens 50 Zeichen lang sein.',
  nameUrl: 'Bitte geben Sie nur Ihren Vornamen ein, ohne Links.',
  nameChars: 'Der Vorname enthält unzulässige Zeichen.',
  privacy: 'Bitte bestätigen Sie, dass Sie die Datenschutzhinweise gelesen haben.',
  checkbox: 'Ungültiger Wert für dieses Kästchen.',
  tracking: 'Ungültiger Kampagnenparameter.',
} as const;

const CHECKED = [v.boolean(), v.literal('on'), v.literal('true'), v.literal('')] as const;
const isChecked = (value: boolean | '' | 'on' | 'true') =>
  value === true || value === 'on' || value === 'true';

/** An optional checkbox: absent means unticked. */
const checkbox = v.optional(v.pipe(v.union(CHECKED, MSG.checkbox), v.transform(isChecked)), false);

// Letters, marks, spaces, apostrophes, hyphens and dots: a first name, nothing else.
const NAME_CHARS = /^[\p{L}\p{M}' .\-’]*$/u;
// Linear: no nested or adjacent unbounded repetitions, so a long input cannot make it slow.
const LOOKS_LIKE_URL = /(https?:|www\.|\.[a-z]{2,}\/|\.(?:com|de|net|org|ru|io|info|xyz|top)\b)/iu;

/** What a campaign value may hold: it comes from a link, not from the person. */
const NOT_TOKEN = /[^A-Za-z0-9._~-]/g;
/**
 * UTM values are reduced to a plain token set (letters, digits, `. _ ~ -`) and cut at 200
 * characters, never refused: a broken campaign link must not cost a registration, and
 * nothing a spreadsheet could run (`=`, `+`, `@`, separators) reaches an export.
 */
const tracking = v.optional(
  v.pipe(
    v.string(MSG.tracking),
    v.transform((s) => s.replace(NOT_TOKEN, '').slice(0, 200)),
  ),
);

const MISSING: Record<string, string> = { email: MSG.emailMissing, privacy: MSG.privacy };

/**
 * The fields a visitor sees, each its own schema: the form checks them one by one as the
 * visitor leaves them, so the browser bundle needs no object schema at all.
 */
export const REGISTRATION_FIELD_SCHEMAS = {
  email: v.pipe(
    v.string(MSG.emailMissing),
    v.trim(),
    v.nonEmpty(MSG.emailMissing),
    v.maxLength(MAX_EMAIL_LENGTH, MSG.emailLong),
    v.normalize('NFC'),
    v.toLowerCase(),
    // Internationalised domains (info@müller-bau.de) are valid; the output keeps them as
    // typed, and src/lib/email.ts gives the punycode form for keys and sending.
    v.check(isEmailAddress, MSG.emailInvalid),
  ),
  firstName: v.optional(
    v.pipe(
      v.string(MSG.nameChars),
      v.trim(),
      v.normalize('NFC'),
      v.maxLength(50, MSG.nameLong),
      v.check((name) => !LOOKS_LIKE_URL.test(name), MSG.nameUrl),
      v.regex(NAME_CHARS, MSG.nameChars),
    ),
    '',
  ),
  // Required: absent, unticked or any other value all get the same plain request.
  privacy: v.pipe(
    v.union(CHECKED, MSG.privacy),
    v.transform(isChecked),
    v.check((accepted) => accepted, MSG.privacy),
  ),
  giveaway: checkbox,
  newsletter: checkbox,
};

export const Registration = v.object(
  {
    ...REGISTRATION_FIELD_SCHEMAS,
    website: v.optional(v.pipe(v.string(), v.maxLength(500)), ''),
    /** Origin of the page the visitor came from (document.referrer), if any. */
    referrer: v.optional(v.pipe(v.string(), v.maxLength(500)), ''),
    utm_source: tracking,
    utm_medium: tracking,
    utm_campaign: tracking,
    utm_term: tracking,
    utm_content: tracking,
  },
  // Called for a missing required key (and for a body that is not an object at all).
  (issue) => MISSING[String(issue.path?.[0]?.key)] ?? 'Die Anfrage enthält kein gültiges Formular.',
);

export type RegistrationInput = v.InferInput<typeof Registration>;
export type Registration = v.InferOutput<typeof Registration>;

/** Visitor-facing field names that can carry an error message. */
export type RegistrationField = 'email' | 'firstName' | 'privacy' | 'giveaway' | 'newsletter' | 'form';
export type FieldErrors = Partial<Record<RegistrationField, string>>;

const VISIBLE_FIELDS = new Set<string>(['email', 'firstName', 'privacy', 'giveaway', 'newsletter']);

/**
 * Validates a submission and maps issues to one German message per visible field.
 * Problems in hidden fields (tracking, honeypot) are reported under `form`.
 */
export function validateRegistration(
  input: unknown,
): { ok: true; value: Registration } | { ok: false; errors: FieldErrors } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, errors: { form: 'Die Anfrage enthält kein gültiges Formular.' } };
  }
  // Stop each field at its first failure: an 8 KB first name is refused by its length,
  // and no pattern runs over it.
  const result = v.safeParse(Registration, input, { abortPipeEarly: true });
  if (result.success) return { ok: true, value: result.output };
  const errors: FieldErrors = {};
  for (const issue of result.issues) {
    const key = issue.path?.[0]?.key;
    const field = typeof key === 'string' && VISIBLE_FIELDS.has(key) ? (key as RegistrationField) : 'form';
    errors[field] ??=
      field === 'form'
        ? 'Das Formular enthält ungültige Angaben. Bitte laden Sie die Seite neu.'
        : issue.message;
  }
  return { ok: false, errors };
}

/** Validates one field as the visitor leaves it; `undefined` means fine. */
export function validateRegistrationField(
  field: Exclude<RegistrationField, 'form'>,
  value: unknown,
): string | undefined {
  const result = v.safeParse(REGISTRATION_FIELD_SCHEMAS[field], value, { abortPipeEarly: true });
  return result.success ? undefined : result.issues[0].message;
}
