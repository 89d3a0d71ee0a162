/**
 * Property-based tests of `Registration` and `POST /api/register` (issue 6, "Bad input").
 *
 * The bulk (8,000 bodies) goes straight to `validateRegistration`; about 3,000 more go
 * through the whole app in-process (`app.request`, the same code and bindings SELF uses,
 * without the HTTP hop), plus a few hundred through SELF. Every body gets its own
 * client IP so the per-IP rate limit does not turn the run into a wall of 429s (a 429
 * would still be a valid 4xx answer).
 *
 * Properties: the answer is 2xx/3xx/4xx, never 5xx; JSON answers are `{ ok: true }` or
 * `{ ok: false, errors: { …German strings } }`; the no-JS answer is the page again;
 * nothing is stored for a rejected body and exactly the accepted addresses are stored;
 * no injected markup is reflected outside an escaped `value` attribute or JSON data
 * block; no response header carries injected text; Object.prototype stays clean.
 */
import { env, SELF } from 'cloudflare:test';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { REGISTRATION_FIELDS, validateRegistration } from '../../src/lib/registration';
import { app } from '../../worker/app';
import { leadId } from '../../worker/store/lead-keys';
import { getLead } from '../../worker/store/lead-store';
import {
  anyString,
  checkboxValue,
  emailValue,
  injection,
  formContentType,
  freshEmail,
  invalidUtf8,
  jsonContentType,
  jsonObjectText,
  markersIn,
  nastyString,
  registrationEntries,
  unsafeReflections,
  wrongContentType,
  wrongType,
} from './fuzz-arbitraries';
import { withFormFields, withSolution } from './helpers';

/** Set from the host's FUZZ_SEED / FUZZ_SCALE by vitest.config.ts (workerd has no process.env of its own). */
const fuzzVars = env as unknown as { FUZZ_SEED?: string; FUZZ_SCALE?: string };
/** FUZZ_SCALE=10 runs ten times as many bodies (for a long hunt; the default suits CI). */
const SCALE = Number(fuzzVars.FUZZ_SCALE || 1);
/** Generated bodies per property; the sum is the "inputs tried" figure (≥ 10,000). */
const RUNS = {
  schema: 8_000 * SCALE,
  json: 1_600 * SCALE,
  form: 900 * SCALE,
  raw: 400 * SCALE,
  contentTypes: 300 * SCALE,
  self: 120 * SCALE,
};
const SEED = fuzzVars.FUZZ_SEED ? Number(fuzzVars.FUZZ_SEED) : Date.now() % 2 ** 31;

const KNOWN_FIELDS = new Set<string>([...REGISTRATION_FIELDS.filter((f) => f !== 'website'), 'form']);
const PROTO_BASELINE = {
  object: Object.getOwnPropertyNames(Object.prototype).sort().join(),
  array: Object.getOwnPropertyNames(Array.prototype).sort().join(),
};

function expectPrototypesClean() {
  expect(Object.getOwnPropertyNames(Object.prototype).sort().join()).toBe(PROTO_BASELINE.object);
  expect(Object.getOwnPropertyNames(Array.prototype).sort().join()).toBe(PROTO_BASELINE.array);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
}

let ipSeq = 0;
/** A distinct client IP per body, half IPv4, half IPv6 (unique-local ranges only). */
function nextIp(): string {
  ipSeq += 1;
  return ipSeq % 2
    ? `10.66.${(ipSeq >> 8) & 255}.${ipSeq & 255}`
    : // Each its own /64: the limiter keys an IPv6 client by its /64.
      `fd00:66:${(ipSeq >> 16).toString(16)}:${(ipSeq & 0xffff).toString(16)}::1`;
}

/** Addresses accepted (and not honeypotted) vs. rejected, normalised like the lead key. */
class Ledger {
  stored = new Set<string>();
  rejected = new Set<string>();
  note(email: unknown, outcome: 'stored' | 'rejected' | 'ignored') {
    if (typeof email !== 'string' || outcome === 'ignored') return;
    (outcome === 'stored' ? this.stored : this.rejected).add(email.trim().toLowerCase());
  }
}

/** Every stored lead id. */
async function leadKeys(): Promise<Set<string>> {
  const { results } = await env.DB.prepare('SELECT id FROM leads').all<{ id: string }>();
  return new Set(results.map((r) => r.id));
}

/** Stored leads changed exactly by the accepted addresses; no rejected one got in. */
async function expectStorage(before: Set<string>, ledger: Ledger) {
  const after = await leadKeys();
  const storedKeys = new Set<string>();
  for (const e of ledger.stored) storedKeys.add(await leadId(e, env.LEAD_KEY_SECRET));
  for (const key of storedKeys) expect(after.has(key), `accepted lead ${key} missing`).toBe(true);
  for (const e of ledger.rejected) {
    if (ledger.stored.has(e)) continue;
    const key = await leadId(e, env.LEAD_KEY_SECRET);
    expect(after.has(key) && !before.has(key), `rejected address was stored: ${JSON.stringify(e)}`).toBe(
      false,
    );
  }
  const added = [...after].filter((k) => !before.has(k));
  expect(added.filter((k) => !storedKeys.has(k))).toEqual([]);
}

type Kind = 'json' | 'form' | 'other';

/** What the app would read from the body (for bookkeeping only, never for the verdict). */
function readBack(kind: Kind, body: string | Uint8Array): Record<string, unknown> {
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  if (kind === 'form') {
    const out: Record<string, string> = {};
    for (const [k, v] of new URLSearchParams(text)) if (!Object.hasOwn(out, k)) out[k] = v;
    return out;
  }
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

/**
 * Checks one answer against the properties above and returns what happened to the
 * body's address: stored, rejected, or ignored (accepted but not stored: honeypot).
 */
async function checkAnswer(
  res: Response,
  kind: Kind,
  input: Record<string, unknown>,
  markers: string[],
): Promise<'stored' | 'rejected' | 'ignored'> {
  expect(res.status, `status for ${kind}`).toBeGreaterThanOrEqual(200);
  expect(res.status, `status for ${kind}`).toBeLessThan(500);
  for (const [name, value] of res.headers) {
    expect(value).not.toMatch(/[\r\n\0]/);
    for (const m of markers) {
      expect(name, `header ${name}`).not.toContain(m);
      expect(value, `header ${name}`).not.toContain(m);
    }
  }
  expect(res.headers.get('x-injected')).toBeNull();
  expect(res.headers.get('bcc')).toBeNull();
  expect(res.headers.get('set-cookie')).toBeNull();
  const honeypot = typeof input.website === 'string' && input.website !== '';
  const type = res.headers.get('content-type') ?? '';

  if (res.status === 303) {
    expect(kind).toBe('form');
    expect(res.headers.get('location')).toBe('/danke');
    return honeypot ? 'ignored' : 'stored';
  }
  if (type.includes('text/html')) {
    expect(kind, 'only a plain form post gets the page back').toBe('form');
    expect(res.status).toBeGreaterThanOrEqual(400);
    const html = await res.text();
    expect(html).toContain('<form');
    expect(unsafeReflections(html, markers)).toEqual([]);
    return 'rejected';
  }
  expect(type).toMatch(/^application\/json/);
  const body = (await res.json()) as { ok: boolean; errors?: Record<string, unknown> };
  if (res.status < 300) {
    expect(body).toEqual({ ok: true });
    return honeypot ? 'ignored' : 'stored';
  }
  expect(body.ok).toBe(false);
  const fields = Object.entries(body.errors ?? {});
  expect(fields.length).toBeGreaterThan(0);
  for (const [field, message] of fields) {
    expect(KNOWN_FIELDS.has(field), `error field ${field}`).toBe(true);
    expect(typeof message).toBe('string');
    expect((message as string).length).toBeGreaterThan(5);
    // German messages, never an echo of the input.
    for (const m of markers) expect(message).not.toContain(m);
  }
  return 'rejected';
}

/** A registration straight into the app; a JSON object body gets a solved challenge, as the form sends. */
async function post(body: BodyInit, contentType: string | null, ip = nextIp()) {
  const headers = new Headers({ 'cf-connecting-ip': ip });
  if (contentType !== null) headers.set('content-type', contentType);
  const type = contentType?.split(';')[0].trim().toLowerCase();
  const text = typeof body === 'string';
  const sent =
    text && type === 'application/json'
      ? await withSolution(body)
      : text && type === 'application/x-www-form-urlencoded'
        ? await withFormFields(body)
        : body;
  return app.request('/api/register', { method: 'POST', headers, body: sent, redirect: 'manual' }, env);
}

/** User agents are stored as proof; printable ASCII only, as a browser could send. */
const userAgentValue = fc.oneof(
  fc.string({ unit: 'grapheme-ascii', maxLength: 300 }),
  injection.map((s) => s.replace(/[^\x20-\x7e]/g, '')),
);

const fcOptions = (numRuns: number) => ({ numRuns, seed: SEED, endOnFailure: true });

beforeAll(async () => {
  // Warm the isolate (shell, config, HMAC key) so the first property runs do not time out.
  await post(JSON.stringify({ email: 'warm.up@beispiel.de', privacy: true }), 'application/json');
  console.info(JSON.stringify({ fuzz: 'seed', seed: SEED, runs: RUNS }));
});

describe('the reflection check itself', () => {
  // The properties below are only as good as this check: it must catch a break-out.
  const m = 'xss999q';
  it('passes escaped reflections in a value attribute and a JSON data block', () => {
    const html = `<input name="firstName" value="&quot;><script>alert('${m}')</script>"><script type="application/json" id="p">{"v":"\\u003cscript>alert('${m}')"}</script>`;
    expect(unsafeReflections(html, [m])).toEqual([]);
  });
  it('flags markup that left its attribute, an event handler, and a script break-out', () => {
    expect(unsafeReflections(`<input value=""><script>alert('${m}')</script>">`, [m])).not.toEqual([]);
    expect(unsafeReflections(`<input value="" onmouseover="alert('${m}')" x="">`, [m])).not.toEqual([]);
    expect(unsafeReflections(`<p><img src=x onerror=alert('${m}')></p>`, [m])).not.toEqual([]);
    expect(
      unsafeReflections(`<script type="application/json">{"v":"</script><script>alert('${m}')</script>`, [m]),
    ).not.toEqual([]);
  });
});

describe('Registration (the schema, directly)', () => {
  it(`never throws and only lets clean values through (${RUNS.schema} bodies)`, () => {
    const body = fc.oneof(
      { weight: 8, arbitrary: registrationEntries.map((e) => JSON.parse(jsonObjectText(e)) as unknown) },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
      { weight: 1, arbitrary: fc.anything({ maxDepth: 3, withNullPrototype: true, withMap: true }) },
    );
    fc.assert(
      fc.property(body, (input) => {
        const result = validateRegistration(input);
        if (!result.ok) {
          const entries = Object.entries(result.errors);
          expect(entries.length).toBeGreaterThan(0);
          for (const [field, message] of entries) {
            expect(KNOWN_FIELDS.has(field)).toBe(true);
            expect(message).toMatch(/^(Bitte|Der|Die|Das|Ungültig)/);
          }
          return;
        }
        const r = result.value;
        expect(r.email.length).toBeLessThanOrEqual(254);
        expect(r.email).toBe(r.email.trim().toLowerCase());
        expect(r.email).toMatch(/^[^\s@<>"'\\\p{Cc}\p{Cf}]+@[^\s@<>"'\\\p{Cc}\p{Cf}]+$/u);
        expect(r.firstName.length).toBeLessThanOrEqual(50);
        expect(r.firstName).not.toMatch(/[<>"&\\/\p{Cc}\p{Cf}\r\n]/u);
        expect(r.privacy).toBe(true);
        expect(typeof r.giveaway).toBe('boolean');
        expect(typeof r.newsletter).toBe('boolean');
        for (const k of ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content'] as const) {
          if (r[k] !== undefined) {
            expect(typeof r[k]).toBe('string');
            expect(r[k]!.length).toBeLessThanOrEqual(200);
          }
        }
        // Unknown keys (and __proto__) never make it into the output.
        for (const k of Object.keys(r)) expect(REGISTRATION_FIELDS as readonly string[]).toContain(k);
        expect(Object.getPrototypeOf(r)).toBe(Object.prototype);
      }),
      fcOptions(RUNS.schema),
    );
    expectPrototypesClean();
  });
});

describe('POST /api/register under generated bodies', () => {
  it(`answers every JSON body with 2xx/4xx and stores exactly the accepted ones (${RUNS.json} bodies)`, async () => {
    const before = await leadKeys();
    const ledger = new Ledger();
    await fc.assert(
      fc.asyncProperty(registrationEntries, jsonContentType, async (entries, type) => {
        const text = jsonObjectText(entries);
        const input = readBack('json', text);
        const outcome = await checkAnswer(await post(text, type), 'json', input, markersIn(entries));
        ledger.note(input.email, outcome);
      }),
      fcOptions(RUNS.json),
    );
    expectPrototypesClean();
    await expectStorage(before, ledger);
    // The generators must actually reach both sides of the border.
    expect(ledger.stored.size).toBeGreaterThan(20);
    expect(ledger.rejected.size).toBeGreaterThan(100);
  }, 120_000);

  it(`re-renders every rejected plain form post without reflecting markup (${RUNS.form} bodies)`, async () => {
    const before = await leadKeys();
    const ledger = new Ledger();
    const pairs = registrationEntries.map((entries) =>
      entries.map(([k, v]) => [k, typeof v === 'string' ? v : (JSON.stringify(v) ?? '')] as [string, string]),
    );
    const rawForm = fc
      .array(
        fc.oneof(
          fc.constantFrom('%', '%ZZ', '%FF%FE', '%E0%80%80', '%00', '&', '=', '+', '%0d%0a'),
          anyString,
        ),
        {
          maxLength: 12,
        },
      )
      .chain((parts) =>
        freshEmail.map((e) => `email=${encodeURIComponent(e)}&privacy=on&firstName=${parts.join('')}`),
      );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { weight: 4, arbitrary: pairs.map((p) => new URLSearchParams(p).toString()) },
          { weight: 1, arbitrary: rawForm },
        ),
        formContentType,
        async (text, type) => {
          const input = readBack('form', text);
          const res = await post(text, type, nextIp());
          const outcome = await checkAnswer(res, 'form', input, markersIn(input));
          ledger.note(input.email, outcome);
        },
      ),
      fcOptions(RUNS.form),
    );
    expectPrototypesClean();
    await expectStorage(before, ledger);
    expect(ledger.rejected.size).toBeGreaterThan(50);
  }, 120_000);

  it(`refuses invalid UTF-8, random JSON, deep nesting and junk with a JSON 4xx (${RUNS.raw} bodies)`, async () => {
    const before = await leadKeys();
    const ledger = new Ledger();
    const junk = fc.oneof(
      invalidUtf8,
      fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v)),
      wrongType.map((v) => JSON.stringify(v) ?? ''),
      fc.constantFrom(
        '',
        ' ',
        '{',
        '{"email":',
        '\u0000',
        '{"__proto__":{"polluted":"yes"}}',
        '[]'.repeat(2000),
      ),
      fc.integer({ min: 100, max: 3_900 }).map((d) => '['.repeat(d) + ']'.repeat(d)),
      nastyString,
      fc.tuple(emailValue, checkboxValue).map(([email, privacy]) =>
        // Valid JSON with the right keys, then bytes cut off or doubled.
        JSON.stringify({ email, privacy }).slice(0, -1),
      ),
    );
    await fc.assert(
      fc.asyncProperty(junk, jsonContentType, async (body, type) => {
        const input = readBack('json', body);
        const res = await post(body, type);
        const outcome = await checkAnswer(res, 'json', input, markersIn(body));
        ledger.note(input.email, outcome);
      }),
      fcOptions(RUNS.raw),
    );
    expectPrototypesClean();
    await expectStorage(before, ledger);
  }, 120_000);

  it(`refuses every other content type, or none, with 415 and stores nothing (${RUNS.contentTypes} bodies)`, async () => {
    const before = await leadKeys();
    const ledger = new Ledger();
    const printable = wrongContentType.filter(
      (t) => /^[\x20-\x7e]*$/.test(t) && !/^\s*application\/(json|x-www-form-urlencoded)\s*(;|$)/i.test(t),
    );
    await fc.assert(
      fc.asyncProperty(fc.option(printable, { nil: null }), freshEmail, async (type, email) => {
        const body = JSON.stringify({ email, privacy: true });
        const res = await post(body, type);
        expect(res.status).toBe(415);
        const outcome = await checkAnswer(res, 'other', { email }, []);
        ledger.note(email, outcome);
      }),
      fcOptions(RUNS.contentTypes),
    );
    await expectStorage(before, ledger);
  }, 60_000);

  it(`holds the same properties through the real HTTP path (SELF, ${RUNS.self} bodies)`, async () => {
    const before = await leadKeys();
    const ledger = new Ledger();
    const body = fc.oneof(
      registrationEntries.map((e) => ({ kind: 'json' as const, text: jsonObjectText(e) })),
      registrationEntries.map((e) => ({
        kind: 'form' as const,
        text: new URLSearchParams(
          e.map(([k, v]) => [k, typeof v === 'string' ? v : (JSON.stringify(v) ?? '')]),
        ).toString(),
      })),
    );
    await fc.assert(
      fc.asyncProperty(body, userAgentValue, async ({ kind, text }, ua) => {
        const headers = new Headers({
          'content-type': kind === 'json' ? 'application/json' : 'application/x-www-form-urlencoded',
          'cf-connecting-ip': nextIp(),
        });
        // A user agent is stored as proof; odd ones must not break anything (header-safe only).
        try {
          headers.set('user-agent', ua);
        } catch {
          /* not a legal header value: a client could not send it either */
        }
        const res = await SELF.fetch('https://webinar.test/api/register', {
          method: 'POST',
          headers,
          body: text,
          redirect: 'manual',
        });
        const input = readBack(kind, text);
        ledger.note(input.email, await checkAnswer(res, kind, input, markersIn(input)));
      }),
      fcOptions(RUNS.self),
    );
    await expectStorage(before, ledger);
  }, 120_000);
});

describe('regressions found by fuzzing', () => {
  // Longest address the schema accepts (254 characters).
  const longEmail = (tag: string) =>
    `${tag}.${Date.now()}.${'a'.repeat(40)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.de`.slice(
      -254,
    );

  it('stores a long address with UTM values full of control characters, the values reduced to tokens', async () => {
    const email = longEmail('utm');
    const res = await post(
      JSON.stringify({
        email,
        firstName: '𝔸'.repeat(25),
        privacy: true,
        utm_source: '\u0001'.repeat(200),
        utm_medium: '\u0000'.repeat(200),
        utm_campaign: '\ud800'.repeat(200),
      }),
      'application/json',
    );
    expect(res.status).toBe(200);
    const lead = await getLead(env.DB, await leadId(email, env.LEAD_KEY_SECRET));
    expect(lead!.email).toBe(email);
    expect(lead!.firstName).toBe('𝔸'.repeat(25));
    // Nothing of them is a token character: dropped, and the registration still stored.
    expect(lead!.source.utm_source).toBeUndefined();
  });
});
