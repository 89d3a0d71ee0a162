/**
 * Solves the registration's proof-of-work challenge (ALTCHA protocol v1, SHA-256) in the
 * visitor's browser with Web Crypto: find the number n with SHA-256(salt + n) =
 * challenge. Digests are asked for in parallel chunks, which keeps Web Crypto's per-call
 * overhead small. Returns the `altcha` payload the worker expects (base64 JSON), or null
 * when no number up to `maxnumber` fits or the search was aborted.
 */

export interface AltchaChallenge {
  algorithm: string;
  challenge: string;
  maxnumber: number;
  salt: string;
  signature: string;
}

const CHUNK = 64;

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function same(a: ArrayBuffer, b: Uint8Array): boolean {
  const x = new Uint8Array(a);
  for (let i = 0; i < b.length; i++) if (x[i] !== b[i]) return false;
  return true;
}

/** The `altcha` field for a challenge, found by search. */
export async function solveAltcha(c: AltchaChallenge, signal?: AbortSignal): Promise<string | null> {
  const target = hexBytes(c.challenge);
  const enc = new TextEncoder();
  for (let start = 0; start <= c.maxnumber; start += CHUNK) {
    if (signal?.aborted) return null;
    const end = Math.min(start + CHUNK - 1, c.maxnumber);
    const digests = await Promise.all(
      Array.from({ length: end - start + 1 }, (_, i) =>
        crypto.subtle.digest('SHA-256', enc.encode(c.salt + (start + i))),
      ),
    );
    const hit = digests.findIndex((d) => same(d, target));
    if (hit >= 0)
      return btoa(
        JSON.stringify({
          algorithm: c.algorithm,
          challenge: c.challenge,
          number: start + hit,
          salt: c.salt,
          signature: c.signature,
        }),
      );
  }
  return null;
}
