/** Shared helpers for worker tests (workerd pool). */
import { env, SELF } from 'cloudflare:test';
import { solveChallenge } from 'altcha-lib/v1';
import { app } from '../../worker/app';
import { maxNumberOf, newChallenge } from '../../worker/abuse/challenge';
import { formStamp } from '../../worker/abuse/form-stamp';
import { leadId } from '../../worker/store/lead-keys';
import { getLead } from '../../worker/store/lead-store';

let counter = 0;
/** A fresh address per call, so tests never see each other's leads. */
export function uniqueEmail(tag = 'lead'): string {
  counter += 1;
  return `${tag}.${Date.now().toString(36)}.${counter}@beispiel.de`;
}

/** A fresh client IP per call, so the per-IP rate limit does not couple tests. */
export function uniqueIp(): string {
  counter += 1;
  return `10.${(counter >> 16) & 255}.${(counter >> 8) & 255}.${counter & 255}`;
}

/**
 * A solved ALTCHA challenge, made with the worker's own key and cost as
 * `GET /api/register/challenge` would hand it out (the test pool sets the cheapest cost),
 * without a request per registration. The endpoint itself is tested in challenge.test.ts.
 */
export async function solvedChallenge(): Promise<string> {
  const c = await newChallenge(env.LEAD_KEY_SECRET, maxNumberOf(env, false));
  const solution = await solveChallenge(c.challenge, c.salt, c.algorithm, c.maxnumber).promise;
  if (!solution) throw new Error('challenge not solved');
  return btoa(
    JSON.stringify({
      algorithm: c.algorithm,
      challenge: c.challenge,
      number: solution.number,
      salt: c.salt,
      signature: c.signature,
    }),
  );
}

/** A JSON body with a fresh solved challenge added, when it is an object without one. */
export async function withSolution(body: string): Promise<string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return body;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || 'altcha' in parsed) return body;
  return JSON.stringify({ ...parsed, altcha: await solvedChallenge() });
}

/** A JSON registration as the enhanced form sends it: with a fresh solved challenge unless the body has one. */
export async function postJson(body: unknown, headers: Record<string, string> = {}) {
  let text = typeof body === 'string' ? body : JSON.stringify(body);
  if (body && typeof body === 'object' && !Array.isArray(body) && !('altcha' in body))
    text = JSON.stringify({ ...body, altcha: await solvedChallenge() });
  return SELF.fetch('https://webinar.test/api/register', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cf-connecting-ip': uniqueIp(), ...headers },
    body: text,
  });
}

/**
 * A plain form body with the hidden fields the page's form carries (a render stamp from
 * 5 seconds ago, the config version), unless the body has them already.
 */
export async function withFormFields(body: string): Promise<string> {
  const params = new URLSearchParams(body);
  if (!params.has('renderedAt'))
    params.set('renderedAt', await formStamp(env.LEAD_KEY_SECRET, Date.now() - 5000, null));
  if (!params.has('configVersion')) params.set('configVersion', '0');
  return params.toString();
}

export async function postForm(fields: Record<string, string>, headers: Record<string, string> = {}) {
  return SELF.fetch('https://webinar.test/api/register', {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'cf-connecting-ip': uniqueIp(),
      ...headers,
    },
    body: await withFormFields(new URLSearchParams(fields).toString()),
  });
}

/** The lead stored for an address (with its consents), as the store reads it. */
export async function storedLead(email: string) {
  const id = await leadId(email, env.LEAD_KEY_SECRET);
  return { id, lead: await getLead(env.DB, id) };
}

export async function gzipSize(body: string | ArrayBuffer): Promise<number> {
  const stream = new Response(body).body!.pipeThrough(new CompressionStream('gzip'));
  return (await new Response(stream).arrayBuffer()).byteLength;
}

/** env.DB with one method replaced: the way tests inject D1 faults. */
export function dbWith(method: keyof D1Database, impl: (...args: unknown[]) => unknown): D1Database {
  return new Proxy(env.DB, {
    get(target, prop) {
      if (prop === method) return impl;
      const value = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** POST /api/register straight into the app with replaced bindings (no SELF). */
export async function registerWith(
  bindings: Partial<Env>,
  body: Record<string, unknown>,
  kind: 'json' | 'form' = 'json',
) {
  return app.request(
    '/api/register',
    {
      method: 'POST',
      headers: {
        'content-type': kind === 'json' ? 'application/json' : 'application/x-www-form-urlencoded',
        'cf-connecting-ip': uniqueIp(),
      },
      body:
        kind === 'json'
          ? JSON.stringify({ altcha: await solvedChallenge(), ...body })
          : await withFormFields(new URLSearchParams(body as Record<string, string>).toString()),
    },
    { ...env, ...bindings },
  );
}

/** Tables that hold what a visitor or a mail changed (the audit log is left out). */
const PERSON_TABLES = [
  'leads',
  'consents',
  'lead_events',
  'suppression',
  'mail_sends',
  'fanouts',
  'draws',
  'dead_letters',
  'dev_outbox',
  'config_pointer',
] as const;

/** Every row of the person tables and every CONTENT key: to prove a request changed nothing. */
export async function storeSnapshot(): Promise<string> {
  const out: string[] = [];
  const results = await env.DB.batch(PERSON_TABLES.map((t) => env.DB.prepare(`SELECT * FROM ${t}`)));
  results.forEach((r, i) => {
    for (const row of r.results) out.push(`${PERSON_TABLES[i]} ${JSON.stringify(row)}`);
  });
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const res = await env.CONTENT.list({ ...(cursor ? { cursor } : {}) });
    for (const k of res.keys) out.push(`CONTENT ${k.name} ${JSON.stringify(k.metadata ?? null)}`);
    if (res.list_complete) break;
    cursor = res.cursor;
  }
  return out.sort().join('\n');
}

/** How many leads are stored (all addresses). */
export async function leadCount(): Promise<number> {
  const row = await env.DB.prepare('SELECT COUNT(*) AS n FROM leads').first<{ n: number }>();
  return row!.n;
}
