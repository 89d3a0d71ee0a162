/** The browser's proof-of-work solver against challenges made by the server's library. */
import { createChallenge, verifySolution } from 'altcha-lib/v1';
import { describe, expect, it } from 'vitest';
import { solveAltcha } from '../../src/lib/altcha-solver';

const KEY = 'test-hmac-key-0123456789';

describe('solveAltcha', () => {
  it('finds the number, and the server library accepts the payload', async () => {
    for (const number of [0, 63, 64, 777, 4999]) {
      const c = await createChallenge({
        hmacKey: KEY,
        maxNumber: 5000,
        number,
        expires: new Date(Date.now() + 60_000),
      });
      const payload = await solveAltcha(c);
      expect(payload).not.toBeNull();
      expect(JSON.parse(atob(payload!)).number).toBe(number);
      expect(await verifySolution(payload!, KEY)).toBe(true);
    }
  });

  it('gives up with null when no number fits or the search is aborted', async () => {
    const c = await createChallenge({ hmacKey: KEY, maxNumber: 100, number: 50 });
    expect(await solveAltcha({ ...c, challenge: '0'.repeat(64) })).toBeNull();
    const aborted = new AbortController();
    aborted.abort();
    expect(await solveAltcha(c, aborted.signal)).toBeNull();
  });
});
