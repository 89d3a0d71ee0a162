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

describe('sha256Block', () => {
  it('equals Web Crypto for every message length of one block', async () => {
    const { sha256Block } = await import('../../src/lib/altcha-solver');
    const out = new Uint32Array(8);
    for (let len = 0; len <= 55; len++) {
      const msg = new Uint8Array(64);
      for (let i = 0; i < len; i++) msg[i] = (i * 37 + len) & 255;
      sha256Block(msg, len, out);
      const ref = new Uint8Array(await crypto.subtle.digest('SHA-256', msg.slice(0, len)));
      const mine = new Uint8Array(32);
      new DataView(mine.buffer).setUint32(0, 0);
      out.forEach((w, i) => new DataView(mine.buffer).setUint32(i * 4, w));
      expect([...mine], `length ${len}`).toEqual([...ref]);
    }
  });
});
