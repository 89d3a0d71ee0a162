/**
 * Solves the registration's proof-of-work challenge (ALTCHA protocol v1, SHA-256) in the
 * visitor's browser: find the number n with SHA-256(salt + n) = challenge.
 *
 * The message is always one SHA-256 block (salt and number stay under 56 bytes), so the
 * search hashes with a small synchronous single-block SHA-256 instead of one Web Crypto
 * promise per try: the per-call overhead of `crypto.subtle.digest` made a phone take
 * seconds for what this does in a tenth of that. It yields to the page every few
 * milliseconds, so typing stays smooth. Longer messages fall back to Web Crypto. Returns
 * the `altcha` payload the worker expects (base64 JSON), or null when no number up to
 * `maxnumber` fits or the search was aborted.
 */

export interface AltchaChallenge {
  algorithm: string;
  challenge: string;
  /** Highest number to try (the protocol's default: 1,000,000). */
  maxnumber?: number;
  salt: string;
  signature: string;
}

// The SHA-256 constants: fractional parts of the square roots (H) and cube roots (K) of
// the first primes, computed instead of shipped as 72 literals.
const K = new Uint32Array(64);
const H = new Uint32Array(8);
for (let n = 2, i = 0; i < 64; n++) {
  let prime = true;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) prime = false;
  if (!prime) continue;
  if (i < 8) H[i] = ((Math.sqrt(n) % 1) * 2 ** 32) >>> 0;
  K[i++] = ((Math.cbrt(n) % 1) * 2 ** 32) >>> 0;
}

const W = new Uint32Array(64);
const rotr = (x: number, r: number) => (x >>> r) | (x << (32 - r));

/** SHA-256 of a message of at most 55 bytes (one block), into `out`. */
export function sha256Block(msg: Uint8Array, len: number, out: Uint32Array): void {
  W.fill(0, 0, 16);
  for (let i = 0; i < len; i++) W[i >> 2] |= msg[i] << (24 - (i & 3) * 8);
  W[len >> 2] |= 0x80 << (24 - (len & 3) * 8);
  W[15] = len * 8;
  for (let i = 16; i < 64; i++) {
    const a = W[i - 15];
    const b = W[i - 2];
    W[i] =
      (W[i - 16] +
        (rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3)) +
        W[i - 7] +
        (rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10))) |
      0;
  }
  let [a, b, c, d, e, f, g, h] = H;
  for (let i = 0; i < 64; i++) {
    const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
    const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  out[0] = H[0] + a;
  out[1] = H[1] + b;
  out[2] = H[2] + c;
  out[3] = H[3] + d;
  out[4] = H[4] + e;
  out[5] = H[5] + f;
  out[6] = H[6] + g;
  out[7] = H[7] + h;
}

/** The challenge as eight 32-bit words, to compare digests without formatting them. */
function words(hexDigest: string): Uint32Array {
  const out = new Uint32Array(8);
  for (let i = 0; i < 8; i++) out[i] = parseInt(hexDigest.slice(i * 8, i * 8 + 8), 16) >>> 0;
  return out;
}

function equal(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < 8; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The search yields to the page after this much work, so input stays smooth. */
const SLICE_MS = 12;

/** Back to the event loop without setTimeout's 4 ms clamp for nested timers. */
const yieldToPage = () =>
  new Promise<void>((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => resolve();
    ch.port2.postMessage(0);
  });

/** The `altcha` field for a challenge, found by search. */
export async function solveAltcha(c: AltchaChallenge, signal?: AbortSignal): Promise<string | null> {
  const salt = new TextEncoder().encode(c.salt);
  const buf = new Uint8Array(64);
  buf.set(salt);
  const out = new Uint32Array(8);
  const target = words(c.challenge);
  const payload = (number: number) =>
    btoa(
      JSON.stringify({
        algorithm: c.algorithm,
        challenge: c.challenge,
        number,
        salt: c.salt,
        signature: c.signature,
      }),
    );
  let sliceStart = performance.now();
  const max = c.maxnumber ?? 1_000_000;
  for (let n = 0; n <= max; n++) {
    if ((n & 1023) === 0 && performance.now() - sliceStart > SLICE_MS) {
      await yieldToPage();
      sliceStart = performance.now();
    }
    if (signal?.aborted) return null;
    const digits = String(n);
    const len = salt.length + digits.length;
    if (len > 55) {
      const d = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(c.salt + digits));
      if ([...new Uint8Array(d)].map((x) => x.toString(16).padStart(2, '0')).join('') === c.challenge)
        return payload(n);
      continue;
    }
    for (let i = 0; i < digits.length; i++) buf[salt.length + i] = digits.charCodeAt(i);
    sha256Block(buf, len, out);
    if (out[0] === target[0] && equal(out, target)) return payload(n);
  }
  return null;
}
