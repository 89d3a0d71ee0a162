/**
 * A Workers KV double that behaves like Cloudflare's network, not like Miniflare's
 * strongly consistent local store (docs/decisions/061-real-network-doubles.md).
 *
 * One origin (the central stores) and any number of locations. Each location keeps its own
 * cache of values and of misses for `cacheTtl` seconds (default 60) on an injectable clock;
 * a write or delete refreshes only the writer's location; `list()` serves a snapshot of the
 * origin that lags by `listLagMs` (default 10 s); a second write to one key within a second
 * throws `KV PUT failed: 429 Too Many Requests`; each binding view counts its operations
 * and throws after 1000 per invocation (a bulk get is one operation).
 *
 *   const net = new KvNetwork({ clock: clock.now });
 *   const fra = net.location('fra'); // a KVNamespace
 *   fra.beginInvocation();           // a new request: budget reset
 */

/** A clock the test moves by hand: `now` for the doubles, `advance` and `set` for the test. */
export interface ManualClock {
  now: () => number;
  advance: (ms: number) => number;
  set: (ms: number) => number;
}

export function manualClock(startMs: number): ManualClock {
  let t = startMs;
  return {
    now: () => t,
    advance: (ms) => (t += ms),
    set: (ms) => (t = ms),
  };
}

/** What the `beforeOperation` hook is told; awaited before the operation reads the clock. */
export interface KvOperation {
  location: string;
  kind: 'get' | 'getWithMetadata' | 'put' | 'delete' | 'list';
  keys: string[];
}

export interface KvNetworkOptions {
  clock: () => number;
  /** How far `list()` lags behind the origin. */
  listLagMs?: number;
  /** Cache lifetime of a read without `cacheTtl`, in seconds. */
  defaultCacheTtlS?: number;
  /** Minimum gap between two writes to one key. */
  writeIntervalMs?: number;
  /** Operations per invocation (per binding view, see `beginInvocation`). */
  operationBudget?: number;
  /** Most keys one `list()` call returns (1000 on the network; lower only to scale a test down). */
  listPageMax?: number;
  beforeOperation?: (op: KvOperation) => void | Promise<void>;
}

interface Entry {
  value: string | Uint8Array;
  metadata: unknown;
  /** Absolute expiry in ms, if any. */
  expiresAt?: number;
}

interface Version {
  at: number;
  entry: Entry | null;
}

interface Cached {
  entry: Entry | null;
  until: number;
}

export const RATE_LIMIT_MESSAGE = (verb: 'PUT' | 'DELETE') => `KV ${verb} failed: 429 Too Many Requests`;
export const BUDGET_MESSAGE = 'Too many API requests by single worker invocation.';

const enc = new TextEncoder();
const dec = new TextDecoder();

function alive(entry: Entry | null | undefined, now: number): Entry | null {
  if (!entry) return null;
  return entry.expiresAt !== undefined && entry.expiresAt <= now ? null : entry;
}

export class KvNetwork {
  readonly clock: () => number;
  readonly listLagMs: number;
  readonly defaultCacheTtlS: number;
  readonly writeIntervalMs: number;
  readonly operationBudget: number;
  readonly listPageMax: number;
  beforeOperation?: (op: KvOperation) => void | Promise<void>;
  /** Every operation that ran (or was refused by the budget), in order. */
  readonly operations: (KvOperation & { at: number })[] = [];

  private readonly origin = new Map<string, Entry>();
  private readonly history = new Map<string, Version[]>();
  private readonly lastWrite = new Map<string, number>();
  private readonly caches = new Map<string, Map<string, Cached>>();
  private readonly views = new Set<KvLocation>();

  constructor(o: KvNetworkOptions) {
    this.clock = o.clock;
    this.listLagMs = o.listLagMs ?? 10_000;
    this.defaultCacheTtlS = o.defaultCacheTtlS ?? 60;
    this.writeIntervalMs = o.writeIntervalMs ?? 1000;
    this.operationBudget = o.operationBudget ?? 1000;
    this.listPageMax = o.listPageMax ?? 1000;
    this.beforeOperation = o.beforeOperation;
  }

  /** A binding as a Worker in location `name` sees it, with its own operation budget. */
  location(name: string): KVNamespace & KvLocation {
    const view = new KvLocation(this, name);
    this.views.add(view);
    return view as unknown as KVNamespace & KvLocation;
  }

  /** Resets the operation budget of every view. */
  beginInvocation(): void {
    for (const v of this.views) v.beginInvocation();
  }

  /** Writes straight to the origin as of `at` (default: a day ago), outside every cache and limit. */
  seed(key: string, value: string, o: { metadata?: unknown; at?: number } = {}): void {
    const entry: Entry = {
      value,
      metadata: o.metadata === undefined ? null : JSON.parse(JSON.stringify(o.metadata)),
    };
    this.commit(key, entry, o.at ?? this.clock() - 86_400_000);
  }

  /** The origin's current value and metadata (for assertions: no cache, no budget). */
  stored(key: string): { value: string; metadata: unknown } | null {
    const e = alive(this.origin.get(key), this.clock());
    return e
      ? { value: typeof e.value === 'string' ? e.value : dec.decode(e.value), metadata: e.metadata }
      : null;
  }

  /** Keys at the origin now with `prefix`, sorted. */
  storedKeys(prefix = ''): string[] {
    const now = this.clock();
    return [...this.origin.keys()]
      .filter((k) => k.startsWith(prefix) && alive(this.origin.get(k), now))
      .sort();
  }

  // --- used by KvLocation ---

  cacheOf(location: string): Map<string, Cached> {
    let c = this.caches.get(location);
    if (!c) this.caches.set(location, (c = new Map()));
    return c;
  }

  /** A read at `location`: its cache while fresh (values and misses alike), else the origin. */
  read(location: string, key: string, cacheTtlS: number | undefined): Entry | null {
    const now = this.clock();
    const cache = this.cacheOf(location);
    const hit = cache.get(key);
    if (hit && hit.until > now) return alive(hit.entry, now);
    const entry = alive(this.origin.get(key), now);
    cache.set(key, { entry, until: now + (cacheTtlS ?? this.defaultCacheTtlS) * 1000 });
    return entry;
  }

  write(location: string, key: string, entry: Entry | null, verb: 'PUT' | 'DELETE'): void {
    const now = this.clock();
    const last = this.lastWrite.get(key);
    if (last !== undefined && now - last < this.writeIntervalMs) throw new Error(RATE_LIMIT_MESSAGE(verb));
    this.commit(key, entry, now);
    // Only the writer's location sees its own write at once.
    this.cacheOf(location).set(key, { entry, until: now + this.defaultCacheTtlS * 1000 });
  }

  private commit(key: string, entry: Entry | null, at: number): void {
    if (entry) this.origin.set(key, entry);
    else this.origin.delete(key);
    this.lastWrite.set(key, Math.max(this.lastWrite.get(key) ?? -Infinity, at));
    const versions = this.history.get(key) ?? [];
    versions.push({ at, entry });
    versions.sort((a, b) => a.at - b.at);
    // Keep what a lagged list can still see: everything newer than the lag, plus one older.
    const horizon = this.clock() - this.listLagMs;
    while (versions.length > 1 && versions[1].at <= horizon) versions.shift();
    this.history.set(key, versions);
  }

  /** The origin as `list()` sees it now: as it was `listLagMs` ago. */
  listed(prefix: string): { name: string; entry: Entry }[] {
    const now = this.clock();
    const asOf = now - this.listLagMs;
    const out: { name: string; entry: Entry }[] = [];
    for (const [name, versions] of this.history) {
      if (!name.startsWith(prefix)) continue;
      let seen: Entry | null = null;
      for (const v of versions) if (v.at <= asOf) seen = v.entry;
      const e = alive(seen, now);
      if (e) out.push({ name, entry: e });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}

type ValueType = 'text' | 'json' | 'arrayBuffer' | 'stream';

function parseGetArgs(arg: unknown): { type: ValueType; cacheTtl?: number } {
  if (arg === undefined) return { type: 'text' };
  if (typeof arg === 'string') return { type: arg as ValueType };
  const o = arg as { type?: ValueType; cacheTtl?: number };
  return { type: o.type ?? 'text', cacheTtl: o.cacheTtl };
}

function decode(entry: Entry | null, type: ValueType): unknown {
  if (!entry) return null;
  const v = entry.value;
  switch (type) {
    case 'text':
      return typeof v === 'string' ? v : dec.decode(v);
    case 'json':
      return JSON.parse(typeof v === 'string' ? v : dec.decode(v));
    case 'arrayBuffer':
      return (typeof v === 'string' ? enc.encode(v) : v.slice()).buffer;
    case 'stream':
      return new Response(typeof v === 'string' ? v : v.slice()).body;
  }
}

/**
 * One binding view in one location. Implements the `KVNamespace` surface our code uses;
 * `beginInvocation()` resets its operation budget, `operationCount` reads it.
 */
export class KvLocation {
  operationCount = 0;

  constructor(
    readonly network: KvNetwork,
    readonly name: string,
  ) {}

  beginInvocation(): void {
    this.operationCount = 0;
  }

  private async op(kind: KvOperation['kind'], keys: string[]): Promise<void> {
    const op: KvOperation = { location: this.name, kind, keys };
    this.network.operations.push({ ...op, at: this.network.clock() });
    this.operationCount += 1;
    if (this.operationCount > this.network.operationBudget) throw new Error(BUDGET_MESSAGE);
    await this.network.beforeOperation?.(op);
    // A network round trip: other work may run in between, as on the real binding.
    await Promise.resolve();
  }

  private checkCacheTtl(cacheTtl: number | undefined): void {
    if (cacheTtl !== undefined && !(cacheTtl >= 30))
      throw new Error(`KV GET failed: 400 Invalid cache_ttl of ${cacheTtl}. Cache TTL must be at least 30.`);
  }

  private checkBulk(keys: string[], type: ValueType): void {
    if (keys.length > 100) throw new Error('KV GET_BULK failed: 400 Too many keys (at most 100).');
    if (type !== 'text' && type !== 'json') throw new Error(`KV GET_BULK failed: 400 Invalid type ${type}.`);
  }

  async get(key: string | string[], arg?: unknown): Promise<unknown> {
    const { type, cacheTtl } = parseGetArgs(arg);
    this.checkCacheTtl(cacheTtl);
    if (Array.isArray(key)) {
      this.checkBulk(key, type);
      await this.op('get', key);
      return new Map(key.map((k) => [k, decode(this.network.read(this.name, k, cacheTtl), type)]));
    }
    await this.op('get', [key]);
    return decode(this.network.read(this.name, key, cacheTtl), type);
  }

  async getWithMetadata(key: string | string[], arg?: unknown): Promise<unknown> {
    const { type, cacheTtl } = parseGetArgs(arg);
    this.checkCacheTtl(cacheTtl);
    const one = (k: string) => {
      const e = this.network.read(this.name, k, cacheTtl);
      return { value: decode(e, type), metadata: e ? e.metadata : null, cacheStatus: null };
    };
    if (Array.isArray(key)) {
      this.checkBulk(key, type);
      await this.op('getWithMetadata', key);
      return new Map(
        key.map((k) => {
          const r = one(k);
          return [k, r.value === null ? null : r];
        }),
      );
    }
    await this.op('getWithMetadata', [key]);
    return one(key);
  }

  async put(
    key: string,
    value: string | ArrayBuffer | ArrayBufferView | ReadableStream,
    o: KVNamespacePutOptions = {},
  ): Promise<void> {
    await this.op('put', [key]);
    let stored: string | Uint8Array;
    if (typeof value === 'string') stored = value;
    else if (value instanceof ArrayBuffer) stored = new Uint8Array(value.slice(0));
    else if (ArrayBuffer.isView(value))
      stored = new Uint8Array(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength));
    else stored = new Uint8Array(await new Response(value).arrayBuffer());
    const now = this.network.clock();
    const expiresAt =
      o.expiration !== undefined
        ? o.expiration * 1000
        : o.expirationTtl !== undefined
          ? now + o.expirationTtl * 1000
          : undefined;
    const metadata =
      o.metadata === undefined || o.metadata === null ? null : JSON.parse(JSON.stringify(o.metadata));
    this.network.write(
      this.name,
      key,
      { value: stored, metadata, ...(expiresAt ? { expiresAt } : {}) },
      'PUT',
    );
  }

  async delete(key: string): Promise<void> {
    await this.op('delete', [key]);
    this.network.write(this.name, key, null, 'DELETE');
  }

  async list(o: KVNamespaceListOptions = {}): Promise<KVNamespaceListResult<unknown>> {
    const limit = o.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new Error(`KV LIST failed: 400 Invalid key limit ${limit}.`);
    const prefix = o.prefix ?? '';
    await this.op('list', [prefix]);
    const after = o.cursor ? decodeURIComponent(atob(o.cursor)) : null;
    const all = this.network.listed(prefix).filter((k) => after === null || k.name > after);
    const page = all.slice(0, Math.min(limit, this.network.listPageMax));
    const keys = page.map(({ name, entry }) => ({
      name,
      ...(entry.expiresAt !== undefined ? { expiration: Math.floor(entry.expiresAt / 1000) } : {}),
      ...(entry.metadata !== null ? { metadata: entry.metadata } : {}),
    }));
    if (page.length < all.length)
      return {
        keys,
        list_complete: false,
        cursor: btoa(encodeURIComponent(page[page.length - 1].name)),
        cacheStatus: null,
      };
    return { keys, list_complete: true, cacheStatus: null };
  }
}
