/**
 * Oversized and slow request bodies (issue 6, "Bad input"): a 10 MB body is refused with
 * 413 without being read whole, with or without a Content-Length. The in-process tests
 * count the bytes the app pulls from a body stream that never ends; the SELF tests send
 * real 10 MB bodies over workerd's HTTP path.
 */
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../worker/app';
import { MAX_BODY_BYTES } from '../../worker/routes/register';
import { storedLead, uniqueEmail, uniqueIp } from './helpers';

const TEN_MB = 10 * 1024 * 1024;
const CHUNK = 1024;

/** A body that yields `CHUNK`-byte pieces of `{"email":"…` forever (or up to `limit`). */
function countingBody(limit = Infinity) {
  const counter = { pulled: 0, cancelled: false };
  const piece = new TextEncoder().encode('a'.repeat(CHUNK));
  const head = new TextEncoder().encode('{"privacy":true,"firstName":"');
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (counter.pulled >= limit) return controller.close();
        const chunk = counter.pulled === 0 ? head : piece;
        counter.pulled += chunk.byteLength;
        controller.enqueue(chunk);
      },
      cancel() {
        counter.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, counter };
}

async function expectTooLarge(res: Response) {
  expect(res.status).toBe(413);
  const body = (await res.json()) as { ok: boolean; errors: { form: string } };
  expect(body.ok).toBe(false);
  expect(body.errors.form).toBe('Die Anfrage ist zu groß.');
}

describe('POST /api/register with oversized bodies', () => {
  it('answers 413 to an endless streamed body (no Content-Length) after reading little more than the limit', async () => {
    for (const type of ['application/json', 'application/x-www-form-urlencoded']) {
      const { stream, counter } = countingBody();
      const res = await app.request(
        '/api/register',
        {
          method: 'POST',
          headers: { 'content-type': type, 'cf-connecting-ip': uniqueIp() },
          body: stream,
          // @ts-expect-error: workerd/undici need this for a stream body
          duplex: 'half',
        },
        env,
      );
      await expectTooLarge(res);
      // The limit plus at most a couple of chunks in flight, never the whole stream.
      expect(counter.pulled, type).toBeGreaterThan(MAX_BODY_BYTES);
      expect(counter.pulled, type).toBeLessThan(MAX_BODY_BYTES + 4 * CHUNK);
    }
  });

  it('answers 413 to a declared 10 MB body without reading any of it', async () => {
    const { stream, counter } = countingBody();
    const res = await app.request(
      '/api/register',
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': String(TEN_MB),
          'cf-connecting-ip': uniqueIp(),
        },
        body: stream,
        // @ts-expect-error: see above
        duplex: 'half',
      },
      env,
    );
    await expectTooLarge(res);
    expect(counter.pulled).toBeLessThanOrEqual(CHUNK);
  });

  it('answers 413 to a real 10 MB body sent over HTTP, and stores nothing', async () => {
    const email = uniqueEmail('huge');
    const body = new Uint8Array(TEN_MB).fill(0x61);
    body.set(new TextEncoder().encode(`{"email":"${email}","privacy":true,"firstName":"`));
    const res = await SELF.fetch('https://webinar.test/api/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'cf-connecting-ip': uniqueIp() },
      body,
    });
    await expectTooLarge(res);
    expect((await storedLead(email)).record).toBeNull();
  });

  it('answers 413 to a 10 MB streamed (chunked) body over HTTP without pulling it all', async () => {
    const { stream, counter } = countingBody(TEN_MB);
    const res = await SELF.fetch('https://webinar.test/api/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'cf-connecting-ip': uniqueIp() },
      body: stream,
      // @ts-expect-error: see above
      duplex: 'half',
    });
    await expectTooLarge(res);
    // Buffers between the client stream and the app hold some bytes, but far from 10 MB.
    expect(counter.pulled).toBeLessThan(1024 * 1024);
  });

  it('still registers a small body that arrives slowly, in tiny pieces', async () => {
    const email = uniqueEmail('slow');
    const bytes = new TextEncoder().encode(JSON.stringify({ email, privacy: true }));
    let at = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (at >= bytes.length) return controller.close();
        await new Promise((r) => setTimeout(r, 2));
        controller.enqueue(bytes.slice(at, at + 3));
        at += 3;
      },
    });
    const res = await app.request(
      '/api/register',
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'cf-connecting-ip': uniqueIp() },
        body: stream,
        // @ts-expect-error: see above
        duplex: 'half',
      },
      env,
    );
    expect(res.status).toBe(200);
    expect((await storedLead(email)).record).not.toBeNull();
  });
});
