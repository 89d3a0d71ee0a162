/**
 * How an address becomes the keys a lead is stored under:
 *
 * - the lead id, `HMAC-SHA256(normalised address, LEAD_KEY_SECRET)`: trimmed, the domain
 *   in lower-case punycode, the local part NFC and lower case;
 * - the mailbox key, the same HMAC over the canonical mailbox: additionally a `+tag`
 *   removed, and for Gmail and Googlemail the dots of the local part and the domain
 *   alias. One mailbox is one giveaway entry, one suppression entry and one mail budget,
 *   however its owner (or a stranger) spells it.
 *
 * Neither key can be turned back into an address without the secret.
 */
import { normaliseEmail } from '../../src/lib/email';
import { hmacHex } from '../crypto';

const MIN_SECRET_LENGTH = 16;

const GMAIL_DOMAINS = new Set(['gmail.com', 'googlemail.com']);

/** The mailbox behind an address: `+tag` removed; Gmail dots and googlemail.com folded. */
export function canonicalMailbox(email: string): string {
  const normal = normaliseEmail(email);
  const at = normal.lastIndexOf('@');
  if (at < 0) return normal;
  let local = normal.slice(0, at);
  let domain = normal.slice(at + 1);
  const plus = local.indexOf('+');
  if (plus > 0) local = local.slice(0, plus);
  if (GMAIL_DOMAINS.has(domain)) {
    local = local.replace(/\./g, '');
    domain = 'gmail.com';
  }
  return `${local}@${domain}`;
}

function checkSecret(secret: string) {
  if (!secret || secret.length < MIN_SECRET_LENGTH)
    throw new Error('LEAD_KEY_SECRET is missing or shorter than 16 characters');
}

/** The lead id of an address (64 hex characters). */
export async function leadId(email: string, secret: string): Promise<string> {
  checkSecret(secret);
  return hmacHex(secret, normaliseEmail(email));
}

/** The mailbox key of an address (64 hex characters), prefixed so it never equals a lead id. */
export async function mailboxKey(email: string, secret: string): Promise<string> {
  checkSecret(secret);
  return hmacHex(secret, `mailbox:${canonicalMailbox(email)}`);
}

/** Both keys at once. */
export async function leadKeys(email: string, secret: string): Promise<{ id: string; mailbox: string }> {
  const [id, mailbox] = await Promise.all([leadId(email, secret), mailboxKey(email, secret)]);
  return { id, mailbox };
}

/**
 * The lead id of the KV store before D1: HMAC of the trimmed, lower-cased address (no
 * Unicode or domain normalisation). Erasures moved from KV are keyed by it, so
 * registration checks it beside the mailbox key (docs/decisions/065-kv-to-d1-migration.md).
 */
export async function legacyLeadId(email: string, secret: string): Promise<string> {
  checkSecret(secret);
  return hmacHex(secret, email.trim().toLowerCase());
}

export const LEAD_ID_PATTERN = /^[0-9a-f]{64}$/;
