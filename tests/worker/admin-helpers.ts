/**
 * Helpers for the ops/admin worker tests: an in-memory KV that counts operations (so an
 * export can be held to "one list per 1000 leads, no get"), lead seeding, and requests
 * with each kind of credential.
 */
import { env, SELF } from 'cloudflare:test';
import { app } from '../../worker/app';
import { LEAD_PREFIX, leadId, type LeadMetadata } from '../../worker/lead-store';
import { uniqueIp } from './helpers';

export const ORIGIN = 'https://webinar.test';

interface Entry {
  value: string;
  metadata?: unknown;
}

/** A KVNamespace stand-in with sorted keys, cursors, metadata and operation counters. */
export class MemoryKV {
  data = new Map<string, Entry>();
  counts = { get: 0, put: 0, delete: 0, list: 0 };
  failLists = false;

  async get(key: string | string[], type?: unknown): Promise<unknown> {
    this.counts.get += 1;
    const parse = (e?: Entry) =>
      e === undefined
        ? null
        : type === 'json' || (type as { type?: string })?.type === 'json'
          ? JSON.parse(e.value)
          : e.value;
    if (Array.isArray(key)) return new Map(key.map((k) => [k, parse(this.data.get(k))]));
    return parse(this.data.get(key));
  }
  async getWithMetadata(key: string, type?: unknown) {
    const value = await this.get(key, type);
    return { value, metadata: this.data.get(key)?.metadata ?? null, cacheStatus: null };
  }
  async put(key: string, value: string, opts: { metadata?: unknown } = {}) {
    this.counts.put += 1;
    this.data.set(key, {
      value,
      metadata: opts.metadata === undefined ? undefined : structuredClone(opts.metadata),
    });
  }
  async delete(key: string) {
    this.counts.delete += 1;
    this.data.delete(key);
  }
  async list(opts: { prefix?: string; limit?: number; cursor?: string } = {}) {
    this.counts.list += 1;
    if (this.failLists && this.counts.list > 1) throw new Error('KV list failed (injected)');
    const keys = [...this.data.keys()].filter((k) => k.startsWith(opts.prefix ?? '')).sort();
    const start = opts.cursor ? Number(opts.cursor) : 0;
    const limit = Math.min(opts.limit ?? 1000, 1000);
    const page = keys.slice(start, start + limit).map((name) => {
      const m = this.data.get(name)!.metadata;
      return m === undefined ? { name } : { name, metadata: structuredClone(m) };
    });
    const complete = start + limit >= keys.length;
    return complete
      ? { keys: page, list_complete: true as const, cacheStatus: null }
      : { keys: page, list_complete: false as const, cursor: String(start + limit), cacheStatus: null };
  }
  asKv(): KVNamespace {
    return this as unknown as KVNamespace;
  }
}

let seq = 0;
/** A lead id-like key (64 hex) that sorts in seeding order. */
export function fakeId(n = ++seq): string {
  return n.toString(16).padStart(16, '0').padEnd(64, 'a');
}

export function meta(over: Partial<LeadMetadata> = {}): LeadMetadata {
  return {
    e: `person${++seq}@beispiel.de`,
    s: 'pending',
    c: '2026-11-20T10:00:00.000Z',
    p: 'before',
    ...over,
  };
}

/** Writes a lead straight into a KV (value + metadata, as registerLead does). */
export async function seedLead(kv: KVNamespace | MemoryKV, m: LeadMetadata, id?: string): Promise<string> {
  const key = id ?? (await leadId(m.e, env.LEAD_KEY_SECRET));
  await (kv as KVNamespace).put(LEAD_PREFIX + key, JSON.stringify({ id: key, email: m.e }), { metadata: m });
  return key;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
export const OPS = () => bearer(env.OPS_TOKEN);
export const MARKETING = () => bearer(env.MARKETING_TOKEN);

/** Signs in through the API; returns the cookie header and CSRF value. */
export async function session(token: string): Promise<{ cookie: string; csrf: string }> {
  const res = await SELF.fetch(`${ORIGIN}/api/admin/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: ORIGIN, 'cf-connecting-ip': uniqueIp() },
    body: JSON.stringify({ token }),
  });
  if (res.status !== 200) throw new Error(`sign-in failed: ${res.status}`);
  const { csrf } = (await res.json()) as { csrf: string };
  return { cookie: (res.headers.get('set-cookie') ?? '').split(';')[0], csrf };
}

/** `app.request` against the given KVs (fresh memory KVs by default). */
export function request(
  path: string,
  init: RequestInit = {},
  kvs: { LEADS?: MemoryKV; CONTENT?: MemoryKV } = {},
): Promise<Response> {
  // A fresh client IP per request, so the per-IP auth budget does not couple tests.
  const headers = new Headers(init.headers);
  if (!headers.has('cf-connecting-ip')) headers.set('cf-connecting-ip', uniqueIp());
  return Promise.resolve(
    app.request(
      `${ORIGIN}${path}`,
      { ...init, headers },
      {
        ...env,
        ...(kvs.LEADS ? { LEADS: kvs.LEADS.asKv() } : {}),
        ...(kvs.CONTENT ? { CONTENT: kvs.CONTENT.asKv() } : {}),
      },
    ),
  );
}

export const postJsonInit = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});
