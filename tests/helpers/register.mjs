/**
 * Registrations against a running server as the enhanced form sends them: JSON with a
 * freshly solved ALTCHA challenge from the server itself (the worker tests do the same
 * through SELF in tests/worker/helpers.ts).
 */
import { solveChallenge } from 'altcha-lib/v1';

/**
 * A solved ALTCHA challenge from the server at `url`, as the enhanced form sends it.
 * @param {string} url server origin
 * @returns {Promise<string>} the `altcha` field's value
 */
export async function solvedAltcha(url) {
  const res = await fetch(`${url}/api/register/challenge`);
  if (!res.ok) throw new Error(`challenge: ${res.status} ${await res.text()}`);
  const c = await res.json();
  const solution = await solveChallenge(c.challenge, c.salt, c.algorithm, c.maxnumber).promise;
  if (!solution) throw new Error('challenge not solved');
  const { algorithm, challenge, salt, signature } = c;
  return btoa(JSON.stringify({ algorithm, challenge, number: solution.number, salt, signature }));
}

/**
 * POSTs one registration to `${url}/api/register` with a solved challenge.
 * @param {string} url server origin
 * @param {Record<string, unknown>} body the registration's fields
 * @returns {Promise<Response>}
 */
export async function registerJson(url, body) {
  return fetch(`${url}/api/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, altcha: await solvedAltcha(url) }),
  });
}
