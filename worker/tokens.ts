/**
 * Signed tokens for the links in our mails: confirm the registration, unsubscribe, erase.
 *
 * A token is `<payload>.<signature>`, both base64url. The payload is
 * `1|<purpose>|<lead id>|<lead createdAt, s, base36>|<expiry, s, base36>`, the signature an
 * HMAC-SHA256 of the payload under MAIL_TOKEN_SECRET. The token carries no personal data:
 * the lead id is already a keyed hash of the address. Binding the token to the lead's
 * creation time means a link from a purged or erased registration never acts on a later
 * registration of the same address ("wrong lead"). See docs/decisions/040-mail-tokens.md.
 */
import * as v from 'valibot';

export type TokenPurpose = 'confirm' | 'unsubscribe' | 'erase';

/** How long a link works. Confirmation is short (double opt-in); the others must outlive the mails. */
export const TOKEN_TTL_S: Record<TokenPurpose, number> = {
  confirm: 7 * 86_400,
  unsubscribe: 400 * 86_400,
  erase: 400 * 86_400,
};

const PURPOSE_CODE: Record<TokenPurpose, string> = { confirm: 'c', unsubscribe: 'u', erase: 'e' };
const CODE_PURPOSE: Record<string, TokenPurpose> = { c: 'confirm', u: 'unsubscribe', e: 'erase' };

export interface TokenClaims {
  purpose: TokenPurpose;
  leadId: string;
  /** The lead's `createdAt` in whole seconds. */
  createdAtS: number;
  /** Expiry, seconds since the epoch. */
  expS: number;
}

export type TokenCheck =
  | { ok: true; claims: TokenClaims }
  | { ok: false; reason: 'malformed' | 'signature' | 'purpose' | 'expired' };

/** What a token must look like before we spend an HMAC on it (query strings are outside input). */
export const TokenString = v.pipe(
  v.string('Der Link ist unvollständig.'),
  v.maxLength(400, 'Der Link ist zu lang.'),
  v.regex(/^[A-Za-z0-9_-]{40,300}\.[A-Za-z0-9_-]{43}$/, 'Der Link ist unvollständig oder beschädigt.'),
);

const MIN_SECRET_LENGTH = 16;
const enc = new TextEncoder();
const keyCache = new Map<string, Promise<CryptoKey>>();

function key(secret: string): Promise<CryptoKey> {
  if (!secret || secret.length < MIN_SECRET_LENGTH)
    throw new Error('MAIL_TOKEN_SECRET is missing or shorter than 16 characters');
  let k = keyCache.get(secret);
  if (!k) {
    k = crypto.subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
      'verify',
    ]);
    keyCache.set(secret, k);
  }
  return k;
}

function b64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromB64url(s: string): Uint8Array<ArrayBuffer> | null {
  try {
    const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
    return Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  } catch {
    return null;
  }
}

/** Signs a token for one lead and purpose. */
export async function signToken(
  secret: string,
  purpose: TokenPurpose,
  leadId: string,
  leadCreatedAt: string,
  nowMs = Date.now(),
): Promise<string> {
  const createdAtS = Math.floor(Date.parse(leadCreatedAt) / 1000);
  const expS = Math.floor(nowMs / 1000) + TOKEN_TTL_S[purpose];
  const payload = `1|${PURPOSE_CODE[purpose]}|${leadId}|${createdAtS.toString(36)}|${expS.toString(36)}`;
  const payloadB64 = b64url(enc.encode(payload));
  const sig = new Uint8Array(await crypto.subtle.sign('HMAC', await key(secret), enc.encode(payloadB64)));
  return `${payloadB64}.${b64url(sig)}`;
}

/**
 * Checks shape, signature (constant time, by WebCrypto), purpose and expiry. Whether the
 * lead still exists and matches `createdAtS` is for the caller, who reads the record anyway.
 */
export async function verifyToken(
  secret: string,
  token: unknown,
  purpose: TokenPurpose,
  nowMs = Date.now(),
): Promise<TokenCheck> {
  const shape = v.safeParse(TokenString, token);
  if (!shape.success) return { ok: false, reason: 'malformed' };
  const [payloadB64, sigB64] = shape.output.split('.');
  const sig = fromB64url(sigB64);
  if (!sig || sig.length !== 32) return { ok: false, reason: 'malformed' };
  const valid = await crypto.subtle.verify('HMAC', await key(secret), sig, enc.encode(payloadB64));
  if (!valid) return { ok: false, reason: 'signature' };
  const raw = fromB64url(payloadB64);
  const parts = raw ? new TextDecoder().decode(raw).split('|') : [];
  if (parts.length !== 5 || parts[0] !== '1' || !/^[0-9a-f]{64}$/.test(parts[2]))
    return { ok: false, reason: 'malformed' };
  const tokenPurpose = CODE_PURPOSE[parts[1]];
  const createdAtS = parseInt(parts[3], 36);
  const expS = parseInt(parts[4], 36);
  if (!tokenPurpose || !Number.isSafeInteger(createdAtS) || !Number.isSafeInteger(expS))
    return { ok: false, reason: 'malformed' };
  if (tokenPurpose !== purpose) return { ok: false, reason: 'purpose' };
  if (Math.floor(nowMs / 1000) >= expS) return { ok: false, reason: 'expired' };
  return { ok: true, claims: { purpose: tokenPurpose, leadId: parts[2], createdAtS, expS } };
}

/** True when the claims belong to this record (same lead, same registration). */
export function tokenMatchesLead(claims: TokenClaims, lead: { id: string; createdAt: string }): boolean {
  return claims.leadId === lead.id && claims.createdAtS === Math.floor(Date.parse(lead.createdAt) / 1000);
}
