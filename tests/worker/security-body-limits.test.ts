/**
 * Oversized and slow request bodies (issue 6, "Bad input"): a 10 MB body is refused with
 * 413 without being read whole, with or without a Content-Length. The in-process tests
 * count the bytes the app pulls from a body stream that never ends; the SELF tests send
 * real 10 MB bodies over workerd's HTTP path. A body that stops arriving is answered 408
 * after BODY_TIMEOUT_MS instead of being waited for.
 */
import { env, SELF } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { app } from '../../worker/app';
import { BODY_TIMEOUT_MS } from '../../worker/body-limit';
import { MAX_BODY_BYTES } from '../../worker/routes/register';
import { solvedChallenge, storeSnapshot, storedLead, uniqueEmail, uniqueIp } from './helpers';

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

/** POST a stream body straight into the app (in-process, so the stream is ours to watch). */
function postStream(
  path: string,
  type: string,
  stream: ReadableStream<Uint8Array>,
  headers: Record<string, string> = {},
) {
  return app.request(
    path,
    {
      method: 'POST',
      headers: { 'content-type': type, 'cf-connecting-ip': uniqueIp(), ...headers },
      body: stream,
      // @ts-expect-error: workerd/undici need this for a stream body
      duplex: 'half',
    },
    env,
  );
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
      const res = await postStream('/api/register', type, stream);
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
    expect((await storedLead(email)).lead).toBeNull();
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
    const bytes = new TextEncoder().encode(
      JSON.stringify({ email, privacy: true, altcha: await solvedChallenge() }),
    );
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
    expect((await storedLead(email)).lead).not.toBeNull();
  });
});

/** A body that sends its first bytes, then nothing more, and never ends. */
function stallingBody(text: string) {
  const state = { cancelled: false };
  let sent = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent) return new Promise<void>(() => undefined); // the client stops sending
      sent = true;
      controller.enqueue(new TextEncoder().encode(text));
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

describe('POST /api/register with a slow body', () => {
  afterEach(() => vi.useRealTimers());

  it('answers 408 with a German message once the body has trickled for BODY_TIMEOUT_MS, and stores nothing', async () => {
    const email = uniqueEmail('slow-body');
    const before = await storeSnapshot();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    for (const [type, start] of [
      ['application/json', `{"email":"${email}","privacy":true,"firstName":"Lan`],
      ['application/x-www-form-urlencoded', `email=${encodeURIComponent(email)}&privacy=on&firstName=Lan`],
    ] as const) {
      const { stream, state } = stallingBody(start);
      const pending = postStream('/api/register', type, stream);
      let answered = false;
      void Promise.resolve(pending).then(() => (answered = true));
      await vi.advanceTimersByTimeAsync(BODY_TIMEOUT_MS - 100);
      expect(answered, `${type}: still waiting just before the timeout`).toBe(false);
      await vi.advanceTimersByTimeAsync(200);
      const res = await pending;
      expect(res.status, type).toBe(408);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const text = await res.text();
      expect(text, type).toContain('Die Anfrage kam zu langsam an.');
      expect(state.cancelled, `${type}: the rest of the body is not waited for`).toBe(true);
    }
    vi.useRealTimers();
    expect(await storeSnapshot()).toEqual(before);
    expect((await storedLead(email)).lead).toBeNull();
  });
});

describe('slow bodies on the other doors that read one before any sign-in', () => {
  afterEach(() => vi.useRealTimers());

  it('answers 408 on the admin sign-in and the mail-link forms, without waiting for the body', async () => {
    const before = await storeSnapshot();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    for (const [path, type, start] of [
      ['/api/admin/session', 'application/json', '{"token":"dev-only'],
      ['/bestaetigen', 'application/x-www-form-urlencoded', 't=abc'],
      ['/abmelden', 'application/x-www-form-urlencoded', 't=abc'],
    ] as const) {
      const { stream, state } = stallingBody(start);
      const pending = postStream(path, type, stream, { origin: 'https://webinar.test' });
      await vi.advanceTimersByTimeAsync(BODY_TIMEOUT_MS + 100);
      const res = await pending;
      expect(res.status, path).toBe(408);
      expect(res.headers.get('cache-control'), path).toBe('no-store');
      expect(await res.text(), path).toContain('Die Anfrage kam zu langsam an.');
      expect(state.cancelled, path).toBe(true);
    }
    vi.useRealTimers();
    expect(await storeSnapshot()).toEqual(before);
  });
});
