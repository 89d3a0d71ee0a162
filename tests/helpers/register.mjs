/**
 * Registrations against a running server as the enhanced form sends them: JSON with a
 * freshly solved ALTCHA challenge from the server itself (the worker tests do the same
 * through SELF in tests/worker/helpers.ts).
 */
import { solveChallenge } from 'altcha-lib/v1';

/**
 * POSTs one registration to `${url}/api/register` with a solved challenge.
 * @param {string} url server origin
 * @param {Record<string, unknown>} body the registration's fields
 * @returns {Promise<Response>}
 */
export async function registerJson(url, body) {
  const res = await fetch(`${url}/api/register/challenge`);
  if (!res.ok) throw new Error(`challenge: ${res.status} ${await res.text()}`);
  const c = await res.json();
  const solution = await solveChallenge(c.challenge, c.salt, c.algorithm, c.maxnumber).promise;
  if (!solution) throw new Error('challenge not solved');
  const altcha = btoa(
    JSON.stringify({
      algorithm: c.algorithm,
      challenge: c.challenge,
      number: solution.number,
      salt: c.salt,
      signature: c.signature,
    }),
  );
  return fetch(`${url}/api/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, altcha }),
  });
}
