/**
 * Proof-of-work solutions for the benches' registrations, made ahead of the measured
 * window: the enhanced form's posts carry an ALTCHA solution (worker/abuse/challenge.ts),
 * single-use, so every post needs its own. Each challenge comes from the app's own
 * `GET /api/register/challenge` with its own `cf-connecting-ip` (the per-client limit is
 * 60 a minute), solved with altcha-lib as tests/helpers/register.mjs does; at the benches'
 * low cost (ALTCHA_MAX_NUMBER, see counting-server.mjs) that is a few hashes. The
 * visitor's proof of work costs the server nothing; checking a solution (one SHA-256, one
 * HMAC) is part of every measured post.
 */
import { solveChallenge } from 'altcha-lib/v1';

/** The `altcha` field for a challenge `{ algorithm, challenge, maxnumber, salt, signature }`. */
export async function solve(c) {
  const solution = await solveChallenge(c.challenge, c.salt, c.algorithm, c.maxnumber).promise;
  if (!solution) throw new Error('altcha: no number solves the challenge');
  const { algorithm, challenge, salt, signature } = c;
  return btoa(JSON.stringify({ algorithm, challenge, number: solution.number, salt, signature }));
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
      out.push(await solve(await res.json()));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}
