/** Shared helpers for worker tests (workerd pool). */
import { env, SELF } from 'cloudflare:test';
import { app } from '../../worker/app';
import { AUDIT_PREFIX } from '../../worker/audit-log';
import {
  decodeMetadata,
  LEAD_PREFIX,
  leadId,
  type LeadMetadata,
  type LeadRecord,
} from '../../worker/lead-store';

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

export function postJson(body: unknown, headers: Record<string, string> = {}) {
  return SELF.fetch('https://webinar.test/api/register', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cf-connecting-ip': uniqueIp(), ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export function postForm(fields: Record<string, string>, headers: Record<string, string> = {}) {
  return SELF.fetch('https://webinar.test/api/register', {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'cf-connecting-ip': uniqueIp(),
      ...headers,
    },
    body: new URLSearchParams(fields).toString(),
  });
}

export async function storedLead(email: string) {
  const id = await leadId(email, env.LEAD_KEY_SECRET);
  const { value, metadata } = await env.LEADS.getWithMetadata<LeadRecord, LeadMetadata>(
    LEAD_PREFIX + id,
    'json',
  );
  // As an export reads it: text fields decoded (worker/lead-store.ts, metadataOf).
  return { id, record: value, metadata: decodeMetadata(metadata) as LeadMetadata | null };
}

export async function gzipSize(body: string | ArrayBuffer): Promise<number> {
  const stream = new Response(body).body!.pipeThrough(new CompressionStream('gzip'));
  return (await new Response(stream).arrayBuffer()).byteLength;
}

/** env.LEADS with one method replaced: the way tests inject KV faults. */
export function leadsWith(method: keyof KVNamespace, impl: (...args: unknown[]) => unknown): KVNamespace {
  return new Proxy(env.LEADS, {
    get(target, prop) {
      if (prop === method) return impl;
      const value = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** POST /api/register straight into the app with replaced bindings (no SELF). */
export function registerWith(
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
          ? JSON.stringify(body)
          : new URLSearchParams(body as Record<string, string>).toString(),
    },
    { ...env, ...bindings },
  );
}

/** Everything in both namespaces except audit entries, as names plus metadata: to prove nothing changed. */
export async function kvSnapshot(): Promise<string> {
  const out: string[] = [];
  for (const [name, ns] of [
    ['LEADS', env.LEADS],
    ['CONTENT', env.CONTENT],
  ] as const) {
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const res = await ns.list({ ...(cursor ? { cursor } : {}) });
      for (const k of res.keys)
        if (!k.name.startsWith(AUDIT_PREFIX))
          out.push(`${name} ${k.name} ${JSON.stringify(k.metadata ?? null)}`);
      if (res.list_complete) break;
      cursor = res.cursor;
    }
  }
  return out.sort().join('\n');
}
