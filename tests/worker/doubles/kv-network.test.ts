/**
 * The KV double must keep behaving like Cloudflare's network (tests/worker/doubles/kv-network.ts):
 * each test here fails if the double becomes as forgiving as a strongly consistent store.
 */
import { describe, expect, it } from 'vitest';
import { BUDGET_MESSAGE, KvNetwork, manualClock } from './kv-network';

const T0 = Date.UTC(2030, 0, 1);

function network(o: Partial<ConstructorParameters<typeof KvNetwork>[0]> = {}) {
  const clock = manualClock(T0);
  const net = new KvNetwork({ clock: clock.now, ...o });
  return { clock, net, fra: net.location('fra'), ams: net.location('ams') };
}

describe('KV double: per-location caches', () => {
  it('serves a remote location its stale cached value until the cache expires', async () => {
    const { clock, fra, ams } = network();
    await fra.put('k', 'v1');
    expect(await ams.get('k')).toBe('v1'); // ams caches v1 for 60 s
    clock.advance(2000);
    await fra.put('k', 'v2');
    expect(await fra.get('k')).toBe('v2'); // the writer sees its own write
    clock.advance(50_000);
    expect(await ams.get('k')).toBe('v1');
    clock.advance(8_001);
    expect(await ams.get('k')).toBe('v2');
  });

  it('caches a miss: a key created elsewhere stays absent there for the cache lifetime', async () => {
    const { clock, fra, ams } = network();
    expect(await ams.get('new')).toBeNull();
    await fra.put('new', 'here');
    clock.advance(59_000);
    expect(await ams.get('new')).toBeNull();
    clock.advance(1_001);
    expect(await ams.get('new')).toBe('here');
  });

  it('keeps a deleted value alive in other locations that read it', async () => {
    const { clock, fra, ams } = network();
    await fra.put('gone', 'x');
    expect(await ams.get('gone')).toBe('x');
    clock.advance(1500);
    await fra.delete('gone');
    expect(await fra.get('gone')).toBeNull();
    expect(await ams.get('gone')).toBe('x');
  });

  it('honours cacheTtl, refuses one below 30 s, and reads cold from the origin', async () => {
    const { clock, net, fra, ams } = network();
    await fra.put('k', 'v1');
    expect(await ams.get('k', { type: 'text', cacheTtl: 300 })).toBe('v1');
    clock.advance(2000);
    await fra.put('k', 'v2');
    clock.advance(120_000);
    expect(await ams.get('k')).toBe('v1'); // cached for 300 s
    expect(await net.location('cdg').get('k')).toBe('v2'); // a cold location reads the origin
    await expect(ams.get('k', { type: 'text', cacheTtl: 10 })).rejects.toThrow(/cache_ttl/);
  });

  it('applies the cache to bulk reads and getWithMetadata, with json and metadata', async () => {
    const { clock, fra, ams } = network();
    await fra.put('a', JSON.stringify({ n: 1 }), { metadata: { s: 'p' } });
    const first = await ams.get(['a', 'b'], 'json');
    expect(Object.fromEntries(first)).toEqual({ a: { n: 1 }, b: null });
    clock.advance(2000);
    await fra.put('b', '"late"');
    await fra.put('a', JSON.stringify({ n: 2 }), { metadata: { s: 'c' } });
    expect(Object.fromEntries(await ams.get(['a', 'b'], 'json'))).toEqual({ a: { n: 1 }, b: null });
    expect(await ams.getWithMetadata('a', 'json')).toEqual({
      value: { n: 1 },
      metadata: { s: 'p' },
      cacheStatus: null,
    });
    expect((await fra.getWithMetadata(['a', 'b'], 'json')).get('a')).toMatchObject({ metadata: { s: 'c' } });
    await expect(
      ams.get(
        Array.from({ length: 101 }, (_, i) => `k${i}`),
        'json',
      ),
    ).rejects.toThrow(/100/);
  });

  it('expires a key written with expirationTtl', async () => {
    const { clock, fra, net } = network();
    await fra.put('ttl', 'x', { expirationTtl: 60 });
    clock.advance(61_000);
    expect(await net.location('cdg').get('ttl')).toBeNull();
    expect(net.stored('ttl')).toBeNull();
  });
});

describe('KV double: list', () => {
  it('lists a lagging snapshot: new keys appear, deleted keys vanish only after the lag', async () => {
    const { clock, fra, net } = network({ listLagMs: 10_000 });
    net.seed('lead:old', 'x', { metadata: { s: 'pending' } });
    await fra.put('lead:new', 'y', { metadata: { s: 'confirmed' } });
    await fra.delete('lead:old');
    let page = await fra.list({ prefix: 'lead:' });
    expect(page.keys).toEqual([{ name: 'lead:old', metadata: { s: 'pending' } }]);
    clock.advance(10_000);
    page = await fra.list({ prefix: 'lead:' });
    expect(page.keys).toEqual([{ name: 'lead:new', metadata: { s: 'confirmed' } }]);
  });

  it('pages with limit and cursor, in key order, and shows metadata as of the snapshot', async () => {
    const { clock, fra, net } = network();
    for (const k of ['c', 'a', 'b', 'd']) net.seed(`p:${k}`, k, { metadata: { v: 1 } });
    await fra.put('p:a', 'a2', { metadata: { v: 2 } });
    const first = await fra.list({ prefix: 'p:', limit: 3 });
    expect(first.keys.map((k) => [k.name, k.metadata])).toEqual([
      ['p:a', { v: 1 }],
      ['p:b', { v: 1 }],
      ['p:c', { v: 1 }],
    ]);
    expect(first.list_complete).toBe(false);
    const rest = await fra.list({ prefix: 'p:', cursor: first.list_complete ? undefined : first.cursor });
    expect(rest).toMatchObject({ list_complete: true, keys: [{ name: 'p:d' }] });
    clock.advance(10_000);
    expect((await fra.list({ prefix: 'p:', limit: 1 })).keys[0].metadata).toEqual({ v: 2 });
    await expect(fra.list({ limit: 1001 })).rejects.toThrow(/limit/);
  });
});

describe('KV double: limits', () => {
  it('refuses a second write to one key within a second, from any location, with a 429', async () => {
    const { clock, fra, ams } = network();
    await fra.put('k', '1');
    clock.advance(999);
    await expect(ams.put('k', '2')).rejects.toThrow('KV PUT failed: 429 Too Many Requests');
    await expect(fra.delete('k')).rejects.toThrow('KV DELETE failed: 429 Too Many Requests');
    await ams.put('other', 'fine');
    clock.advance(1);
    await ams.put('k', '2');
    expect(await ams.get('k')).toBe('2');
  });

  it('throws after 1000 operations in one invocation; a bulk get counts once', async () => {
    const { fra, ams } = network();
    for (let i = 0; i < 999; i++) await fra.get(`k${i}`);
    await fra.get(Array.from({ length: 100 }, (_, i) => `b${i}`));
    expect(fra.operationCount).toBe(1000);
    await expect(fra.get('one-more')).rejects.toThrow(BUDGET_MESSAGE);
    await ams.get('x'); // another invocation has its own budget
    fra.beginInvocation();
    await expect(fra.get('fresh')).resolves.toBeNull();
  });

  it('awaits the beforeOperation hook before the operation reads the clock', async () => {
    const clock = manualClock(T0);
    const net = new KvNetwork({ clock: clock.now, beforeOperation: () => void clock.advance(1500) });
    const fra = net.location('fra');
    await fra.put('k', '1');
    await fra.put('k', '2'); // 1.5 s later by the hook: allowed
    expect(net.operations.map((o) => o.kind)).toEqual(['put', 'put']);
  });
});
