/**
 * Generated hostile input for the doors that landed after registration (issue 6, "extend
 * the checks as the admin and mail parts land"):
 *
 * - the mail links (/bestaetigen, /abmelden, /loeschen) with junk, forged and tampered
 *   tokens, by GET and every kind of POST: never 5xx, no reflected markup, nothing in KV
 *   changed;
 * - the config a marketer publishes, with script, event handlers, `javascript:` URLs and
 *   CR/LF in its texts: every public page (and the calendar file) renders it inert;
 * - every admin API body and query with a valid role token: never 5xx, always JSON and
 *   `no-store`.
 */
import { env, SELF } from 'cloudflare:test';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import DEFAULT_CONFIG from '../../src/content/webinar.json';
import { app } from '../../worker/app';
import { signToken, type TokenPurpose } from '../../worker/tokens';
import { webinarIcs } from '../../src/lib/calendar';
import { parseWebinarConfig, type WebinarConfig } from '../../src/lib/webinar-config';
import {
  anyString,
  contentAttributeAllowed,
  injection,
  markersIn,
  nastyString,
  unsafeReflections,
  wrongType,
} from './fuzz-arbitraries';
import { storeSnapshot, uniqueIp } from './helpers';

/** Set from the host's FUZZ_SEED / FUZZ_SCALE by vitest.config.ts (workerd has no process.env of its own). */
const fuzzVars = env as unknown as { FUZZ_SEED?: string; FUZZ_SCALE?: string };
const SEED = fuzzVars.FUZZ_SEED ? Number(fuzzVars.FUZZ_SEED) : Date.now() % 2 ** 31;
const fcOptions = (numRuns: number) => ({ numRuns, seed: SEED, endOnFailure: true });
/** FUZZ_SCALE=10 runs ten times as many bodies (for a long hunt; the default suits CI). */
const SCALE = Number(fuzzVars.FUZZ_SCALE || 1);
const RUNS = { links: 600 * SCALE, config: 120 * SCALE, admin: 400 * SCALE };
const ORIGIN = 'https://webinar.test';

const PURPOSES: TokenPurpose[] = ['confirm', 'unsubscribe', 'erase'];
const PATH: Record<TokenPurpose, string> = {
  confirm: '/bestaetigen',
  unsubscribe: '/abmelden',
  erase: '/loeschen',
};
const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);

/** Tokens: junk, the right shape with a wrong signature, real ones tampered or for no lead. */
const tokenValue = fc.oneof(
  injection,
  nastyString,
  anyString,
  fc.stringMatching(/^[A-Za-z0-9_-]{40,300}\.[A-Za-z0-9_-]{43}$/),
  fc
    .tuple(
      fc.constantFrom(...PURPOSES),
      hex64,
      fc.nat(200),
      fc.constantFrom('flip', 'keep', 'other-secret', 'cut'),
    )
    .map(async ([purpose, id, at, how]) => {
      const secret = how === 'other-secret' ? 'another-mail-token-secret-0123456789' : env.MAIL_TOKEN_SECRET;
      const token = await signToken(secret, purpose, id, new Date().toISOString());
      if (how === 'flip')
        return (
          token.slice(0, at % token.length) +
          (token[at % token.length] === 'A' ? 'B' : 'A') +
          token.slice((at % token.length) + 1)
        );
      if (how === 'cut') return token.slice(0, at % token.length);
      return token; // valid signature, but no such lead
    }),
);

describe('mail links under generated tokens', () => {
  it(`answer every token with a page, never 5xx, reflect nothing and change nothing (${RUNS.links} bodies)`, async () => {
    const before = await storeSnapshot();
    const how = fc.constantFrom('get', 'form', 'multipart', 'json', 'one-click', 'repeated');
    await fc.assert(
      fc.asyncProperty(
        tokenValue,
        fc.constantFrom(...PURPOSES),
        how,
        async (tokenOrPromise, purpose, method) => {
          const t = await tokenOrPromise;
          const url = `${ORIGIN}${PATH[purpose]}`;
          // URLSearchParams, not encodeURIComponent: a lone surrogate must reach the server too.
          const q = `?${new URLSearchParams({ t })}`;
          const headers = { 'cf-connecting-ip': uniqueIp(), origin: ORIGIN };
          let init: RequestInit & { url: string };
          if (method === 'get') init = { url: url + q, method: 'GET', headers };
          else if (method === 'form')
            init = {
              url,
              method: 'POST',
              headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
              body: new URLSearchParams({ t }).toString(),
            };
          else if (method === 'multipart') {
            const form = new FormData();
            form.set('t', t);
            init = { url, method: 'POST', headers, body: form };
          } else if (method === 'json')
            init = {
              url,
              method: 'POST',
              headers: { ...headers, 'content-type': 'application/json' },
              body: JSON.stringify({ t }),
            };
          else if (method === 'one-click')
            init = {
              url: url + q,
              method: 'POST',
              headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
              body: 'List-Unsubscribe=One-Click',
            };
          else init = { url: `${url}${q}&t=x`, method: 'GET', headers };
          const res = await app.request(init.url, { ...init, redirect: 'manual' }, env);
          expect(res.status, `${method} ${purpose}`).toBeLessThan(500);
          const body = await res.text();
          if ((res.headers.get('content-type') ?? '').includes('html'))
            expect(unsafeReflections(body, markersIn(t))).toEqual([]);
          for (const m of markersIn(t)) for (const [, v] of res.headers) expect(v).not.toContain(m);
        },
      ),
      fcOptions(RUNS.links),
    );
    expect(await storeSnapshot()).toBe(before);
  }, 120_000);
});

// --- config ---

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function stringPaths(value: Json, path: (string | number)[] = [], out: (string | number)[][] = []) {
  if (typeof value === 'string') out.push(path);
  else if (Array.isArray(value)) value.forEach((v, i) => stringPaths(v, [...path, i], out));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) if (k !== '$schema') stringPaths(v, [...path, k], out);
  return out;
}
const BASE = DEFAULT_CONFIG as unknown as Json;
const PATHS = stringPaths(BASE);

function withValue(config: Json, path: (string | number)[], update: (old: string) => string): Json {
  const copy = structuredClone(config) as Record<string | number, Json>;
  let node = copy as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, Json>;
  const last = path[path.length - 1];
  node[last] = update(node[last] as string);
  return copy;
}

const SCHEMES = [
  'javascript:alert(1)//M',
  ' JaVaScRiPt:alert(1)//M',
  'data:text/html,<script>alert(1)</script>M',
  'vbscript:M',
];
/** The default config with up to four texts replaced, prefixed or suffixed with hostile text. */
const hostileConfig = fc
  .array(
    fc.tuple(
      fc.constantFrom(...PATHS),
      fc.oneof(
        injection,
        fc.constantFrom(...SCHEMES).map((s) => s.replace('M', `xss${Math.floor(Math.random() * 1e9)}q`)),
      ),
      fc.constantFrom('replace', 'prefix', 'suffix'),
    ),
    { minLength: 1, maxLength: 4 },
  )
  .map((edits) =>
    edits.reduce<Json>(
      (config, [path, text, how]) =>
        withValue(config, path, (old) =>
          how === 'replace' ? text : how === 'prefix' ? `${text} ${old}` : `${old} ${text}`,
        ),
      BASE,
    ),
  );

const MARKETING = { authorization: `Bearer ${env.MARKETING_TOKEN}` };
const PUBLIC_PAGES = ['/', '/danke', '/impressum', '/datenschutz', '/teilnahmebedingungen'];

async function publish(config: Json) {
  const current = (await (await app.request('/api/admin/config', { headers: MARKETING }, env)).json()) as {
    version: number;
  };
  return app.request(
    '/api/admin/config',
    {
      method: 'PUT',
      headers: { ...MARKETING, 'content-type': 'application/json' },
      body: JSON.stringify({ baseVersion: current.version, config }),
    },
    env,
  );
}

function expectInertPage(html: string, markers: string[], what: string) {
  expect(unsafeReflections(html, markers, contentAttributeAllowed), what).toEqual([]);
  // Only our own script tags: the module entry, JSON data blocks and the hydration bootstrap.
  for (const tag of html.matchAll(/<script\b[^>]*>/g))
    expect(tag[0], what).toMatch(/type="module"|type="application\/(ld\+)?json"|^<script>$/);
}

describe('a hostile config published by marketing', () => {
  afterAll(async () => {
    // Leave the default in place for anything that runs after this file in the isolate.
    await publish(BASE);
  });

  it(`renders inert on every public page, in the preview and in the calendar file (${RUNS.config} bodies)`, async () => {
    let published = 0;
    await fc.assert(
      fc.asyncProperty(hostileConfig, async (config) => {
        const markers = markersIn(config);
        const preview = await app.request(
          '/api/admin/preview',
          {
            method: 'POST',
            headers: { ...MARKETING, 'content-type': 'application/json', origin: ORIGIN },
            body: JSON.stringify({ config }),
          },
          env,
        );
        expect(preview.status).toBeLessThan(500);
        if (preview.status !== 200) {
          expect(preview.status).toBe(400); // the schema refused it (e.g. a URL field)
          return;
        }
        expectInertPage(await preview.text(), markers, 'preview');
        const res = await publish(config);
        expect(res.status, JSON.stringify(await res.clone().json())).toBe(200);
        published += 1;
        for (const path of PUBLIC_PAGES) {
          const page = await SELF.fetch(ORIGIN + path);
          expect(page.status, path).toBeLessThan(500);
          expectInertPage(await page.text(), markers, path);
        }
        const ics = await (await SELF.fetch(ORIGIN + '/webinar.ics')).text();
        // CR/LF in a text must not start a property of its own.
        expect(ics).not.toMatch(/^(X-Injected|Bcc|Set-Cookie)\b/im);
        for (const line of ics.split('\r\n')) expect(line).not.toMatch(/[\r\n]/);
      }),
      fcOptions(RUNS.config),
    );
    expect(published).toBeGreaterThan(RUNS.config / 4);
  }, 180_000);
});

describe('regressions found by fuzzing the config', () => {
  const INJECTED = 'https://webinar.example.com x@beispiel.de\r\nBcc: x@evil.example';

  it('refuses a site address with a line break (it reached the .ics as a field of its own)', async () => {
    const res = await publish(withValue(BASE, ['seo', 'siteUrl'], () => INJECTED));
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('keine Leerzeichen oder Zeilenumbrüche');
    for (const path of [
      ['webinar', 'joinUrl'],
      ['webinar', 'replayUrl'],
    ])
      expect(
        parseWebinarConfig(withValue(BASE, path, () => 'https://x.example/a\nb')).success,
        path.join('.'),
      ).toBe(false);
  });

  it('writes no line break from a URL or UID into the .ics, whatever it is given', () => {
    const config = parseWebinarConfig(BASE);
    expect(config.success).toBe(true);
    const ics = webinarIcs(config.output as WebinarConfig, { uid: 'u@x\r\nX-Injected: 1', url: INJECTED });
    expect(ics).not.toMatch(/^(Bcc|X-Injected)/m);
    for (const line of ics.split('\r\n')) expect(line).not.toMatch(/[\r\n]/);
  });
});

// --- admin API ---

describe('the admin API under generated bodies and queries', () => {
  const OPS = { authorization: `Bearer ${env.OPS_TOKEN}` };
  const junkJson = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }),
    wrongType,
    fc.record({
      baseVersion: fc.oneof(fc.integer(), anyString, wrongType),
      config: fc.oneof(fc.jsonValue({ maxDepth: 3 }), hostileConfig),
    }),
    fc.record({ version: fc.oneof(fc.integer(), anyString), baseVersion: fc.oneof(fc.integer(), anyString) }),
    fc.record({
      id: fc.oneof(hex64, anyString, injection),
      email: fc.oneof(anyString, injection),
      reason: anyString,
    }),
    fc.record({ redraw: fc.oneof(fc.record({ reason: anyString }), wrongType) }),
  );
  const call = fc.oneof(
    fc.tuple(
      fc.constantFrom('PUT /api/admin/config', 'POST /api/admin/config/rollback', 'POST /api/admin/preview'),
      fc.constant(MARKETING),
      junkJson,
    ),
    fc.tuple(
      fc.constantFrom(
        'POST /api/admin/leads/erase',
        'POST /api/admin/giveaway/draw',
        'POST /api/admin/mail/dead-letters/retry',
      ),
      fc.constant(OPS),
      junkJson,
    ),
    fc.tuple(
      fc.constantFrom(
        'GET /api/admin/leads',
        'GET /api/admin/audit',
        'GET /api/admin/stats',
        'GET /api/admin/mail/dead-letters',
      ),
      fc.constant(OPS),
      fc.dictionary(
        fc.oneof(fc.constantFrom('format', 'since', 'status', 'giveaway', 'cursor'), anyString),
        fc.oneof(
          anyString,
          injection,
          fc.constantFrom('csv', 'excel', 'ndjson', 'xml', '2027-13-45', 'pending'),
        ),
      ),
    ),
  );

  it(`answers every body and query with a JSON 2xx/4xx and no-store, never 5xx (${RUNS.admin} bodies)`, async () => {
    await fc.assert(
      fc.asyncProperty(call, fc.boolean(), async ([route, auth, payload], rawText) => {
        const [method, path] = route.split(' ');
        const init: RequestInit = { method, headers: { ...auth, origin: ORIGIN } };
        let url = path;
        if (method === 'GET') url += `?${new URLSearchParams(payload as Record<string, string>)}`;
        else {
          (init.headers as Record<string, string>)['content-type'] = 'application/json';
          init.body = rawText && typeof payload === 'string' ? payload : JSON.stringify(payload);
        }
        const res = await app.request(url, init, env);
        expect(res.status, `${route} ${String(init.body ?? url).slice(0, 200)}`).toBeLessThan(500);
        expect(res.headers.get('cache-control'), route).toBe('no-store');
        const type = res.headers.get('content-type') ?? '';
        if (res.status >= 400) expect(type, route).toMatch(/^application\/json/);
        await res.arrayBuffer();
      }),
      fcOptions(RUNS.admin),
    );
  }, 180_000);
});
