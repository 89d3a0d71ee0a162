/**
 * Proof-of-work solutions for the benches' registrations, made ahead of the measured
 * window: the enhanced form's posts carry an ALTCHA solution (worker/abuse/challenge.ts),
 * single-use, so every post needs its own. Each challenge comes from the app's own
 * `GET /api/register/challenge` (its own `cf-connecting-ip`, so the per-client limit does
 * not interfere); the search is the browser solver's (src/lib/altcha-solver.ts) done with
 * Node's synchronous SHA-256, which at the benches' low cost (ALTCHA_MAX_NUMBER, see
 * counting-server.mjs) is a few hashes. The visitor's proof of work costs the server
 * nothing; checking a solution (one SHA-256, one HMAC) is part of every measured post.
 */
import { createHash } from 'node:crypto';

/** The `altcha` field for a challenge `{ algorithm, challenge, maxnumber, salt, signature }`. */
export function solve(c) {
  for (let number = 0; number <= c.maxnumber; number++)
    if (
      createHash('sha256')
        .update(c.salt + number)
        .digest('hex') === c.challenge
    )
      return Buffer.from(
        JSON.stringify({
          algorithm: c.algorithm,
          challenge: c.challenge,
          number,
          salt: c.salt,
          signature: c.signature,
        }),
      ).toString('base64');
  throw new Error('altcha: no number solves the challenge');
}

/**
 * `n` solutions from the app at `url`, `concurrency` challenge requests at a time, each
 * from the address `ipOf(k)` and tagged `challenge` for the binding tallies.
 * @param {string} url
 * @param {number} n
 * @param {{ ipOf: (k: number) => string, concurrency?: number }} options
 */
export async function fetchSolutions(url, n, { ipOf, concurrency = 16 }) {
  const out = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const k = next++;
      const res = await fetch(`${url}/api/register/challenge`, {
        headers: { 'cf-connecting-ip': ipOf(k), 'x-bench-tag': 'challenge' },
      });
      if (res.status !== 200) throw new Error(`challenge answered ${res.status}`);
      out.push(solve(await res.json()));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}
