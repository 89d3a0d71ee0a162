/**
 * Email addresses in their three forms: as the visitor typed it (what the page and the
 * mails show), normalised (one spelling per address, for keys and comparisons) and as
 * the mail service needs it (the domain in punycode). Internationalised domains such as
 * `müller-bau.de` are valid addresses; only the local part must be ASCII, as most mail
 * systems still require. Pure functions: used in the browser (the form) and the worker.
 *
 * The WHATWG URL parser applies UTS #46 (IDNA) to a host, in every browser and in
 * workerd: `new URL('http://müller-bau.de').hostname` is `xn--mller-bau-q9a.de`. That is
 * the whole punycode implementation; no library is shipped for it.
 */

/** The local part rule of valibot's `email()`: dot-separated runs of letters, digits, `_+-`. */
const LOCAL_PART = /^[\w+-]+(?:\.[\w+-]+)*$/;
/** An ASCII host name with at least two labels; the top level is letters or an `xn--` label. */
const ASCII_DOMAIN = /^(?:[a-z\d](?:[a-z\d-]{0,61}[a-z\d])?\.)+(?:[a-z]{2,63}|xn--[a-z\d-]{1,59})$/;
/** Characters the URL parser would read as structure (port, path, user) instead of host. */
const NOT_IN_HOST = /[\s/\\?#@:[\]%<>^|"`{}]/;
/** SMTP's limit on the address as it travels (RFC 5321 path minus the brackets). */
export const MAX_EMAIL_LENGTH = 254;

function split(address: string): [local: string, domain: string] | null {
  const at = address.lastIndexOf('@');
  return at > 0 ? [address.slice(0, at), address.slice(at + 1)] : null;
}

/**
 * The domain in lower-case ASCII (punycode for an internationalised one), or null when it
 * cannot be a host name. ASCII domains are only lower-cased, never re-parsed.
 */
export function asciiDomain(domain: string): string | null {
  const lower = domain.toLowerCase();
  if (/^[\x21-\x7e]*$/.test(lower)) return lower;
  if (NOT_IN_HOST.test(lower)) return null;
  try {
    return new URL(`http://${lower}`).hostname;
  } catch {
    return null;
  }
}

/**
 * One spelling per address, for lead keys and comparisons: trimmed, the local part NFC
 * and lower case, the domain lower-case punycode. `Info@Müller-Bau.de` and
 * `info@xn--mller-bau-q9a.de` give the same result. Input without `@` is only trimmed,
 * NFC-normalised and lower-cased.
 */
export function normaliseEmail(raw: string): string {
  const trimmed = raw.trim();
  const parts = split(trimmed);
  if (!parts) return trimmed.normalize('NFC').toLowerCase();
  const local = parts[0].normalize('NFC').toLowerCase();
  return `${local}@${asciiDomain(parts[1]) ?? parts[1].toLowerCase()}`;
}

/** The address as the visitor typed it, for the page, exports and mail texts: trimmed, NFC. */
export function displayEmail(raw: string): string {
  return raw.trim().normalize('NFC');
}

/**
 * The address for a mail's envelope and `To:` header: the local part unchanged, the
 * domain in punycode, since mail services are not required to accept UTF-8 domains.
 */
export function mailAddress(email: string): string {
  const trimmed = email.trim();
  const parts = split(trimmed);
  if (!parts) return trimmed;
  return `${parts[0]}@${asciiDomain(parts[1]) ?? parts[1]}`;
}

/**
 * Whether `address` (already trimmed) is one we can mail: an ASCII local part, a domain
 * that is a host name once in punycode, and at most 254 characters in that form.
 */
export function isEmailAddress(address: string): boolean {
  const parts = split(address);
  if (!parts || !LOCAL_PART.test(parts[0])) return false;
  const domain = asciiDomain(parts[1].normalize('NFC'));
  return (
    domain !== null && ASCII_DOMAIN.test(domain) && parts[0].length + 1 + domain.length <= MAX_EMAIL_LENGTH
  );
}
