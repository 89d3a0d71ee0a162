/**
 * The config store straight against env.DB (the live-version pointer) and env.CONTENT
 * (versions, the `config:current` mirror): publish, stale and concurrent publishes,
 * adoption of a KV pointer, rollback, history and the fallback for a corrupt stored
 * version. Storage is shared by the tests of this file, so every test starts from
 * whatever version is current.
 */
import { env } from 'cloudflare:test';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import {
  CURRENT_KEY,
  DEFAULT_CONFIG,
  getLiveConfig,
  listHistory,
  publishConfig,
  readLiveConfigFresh,
  readPointer,
  resetConfigCache,
  rollbackConfig,
  summarizeChanges,
  syncCurrentMirror,
  versionKey,
  type ConfigRecord,
} from '../../worker/config-store';
import type { WebinarConfig } from '../../src/lib/webinar-config';

const kv = env.CONTENT;
const db = env.DB;
const clone = (c: WebinarConfig): WebinarConfig => structuredClone(c);
const pointer = () => readPointer(db, kv);
const pointerRow = () =>
  db.prepare('SELECT version FROM config_pointer WHERE id = 1').first<{ version: number }>();

function renamed(name: string): WebinarConfig {
  const c = clone(DEFAULT_CONFIG);
  c.speakers[1].name = name;
  return c;
}

beforeEach(() => resetConfigCache());

describe('adopting the pointer of a deployment from before D1', () => {
  it('takes KV config:current once, so the published version stays live instead of the default', async () => {
    // A KV-era deployment: version 3 published, no pointer row in D1 yet.
    await db.prepare('DELETE FROM config_pointer').run();
    for (const n of [1, 2, 3])
      await kv.put(
        versionKey(n),
        JSON.stringify({
          version: n,
          config: renamed(`Alt ${n}`),
          publishedAt: '',
          publishedBy: 'm',
          summary: '',
        }),
      );
    await kv.put(CURRENT_KEY, '3');

    const live = await readLiveConfigFresh(db, kv);
    expect(live).toMatchObject({ version: 3 });
    expect(live.config.speakers[1].name).toBe('Alt 3');
    expect(await pointerRow()).toEqual({ version: 3 });

    // Once: from now on D1 decides, a later KV value is only a mirror.
    await kv.put(CURRENT_KEY, '1');
    expect(await pointer()).toBe(3);
    // The 5-minute cron puts the mirror right again.
    expect(await syncCurrentMirror(db, kv)).toBe(3);
    expect(await kv.get(CURRENT_KEY)).toBe('3');

    const next = await publishConfig(db, kv, { baseVersion: 3, config: renamed('Neu'), by: 'm' });
    expect(next).toMatchObject({ ok: true, version: 4 });
  });

  it('adopts the same value when two first readers race', async () => {
    await db.prepare('DELETE FROM config_pointer').run();
    const current = Number(await kv.get(CURRENT_KEY));
    expect(await Promise.all([pointer(), pointer(), pointer()])).toEqual([current, current, current]);
    expect(await pointerRow()).toEqual({ version: current });
  });
});

describe('publishConfig', () => {
  it('writes config:v<N+1> with who, when and a German summary, and moves the pointer and its mirror', async () => {
    const base = await pointer();
    const result = await publishConfig(db, kv, {
      baseVersion: base,
      config: renamed('Heino'),
      by: 'token:marketing',
      nowMs: Date.parse('2026-12-01T10:00:00Z'),
    });
    expect(result).toMatchObject({ ok: true, version: base + 1 });
    expect(await pointerRow()).toEqual({ version: base + 1 });
    expect(await kv.get(CURRENT_KEY)).toBe(String(base + 1));
    const record = await kv.get<ConfigRecord>(versionKey(base + 1), 'json');
    expect(record).toMatchObject({
      version: base + 1,
      publishedAt: '2026-12-01T10:00:00.000Z',
      publishedBy: 'token:marketing',
    });
    expect(record!.config.speakers[1].name).toBe('Heino');
    const live = await getLiveConfig(kv);
    expect(live.version).toBe(base + 1);
    expect(live.config.speakers[1].name).toBe('Heino');
  });

  it('answers a publish based on an old version with a conflict and changes nothing', async () => {
    const base = await pointer();
    const first = await publishConfig(db, kv, { baseVersion: base, config: renamed('Erster'), by: 'a' });
    expect(first.ok).toBe(true);
    const second = await publishConfig(db, kv, { baseVersion: base, config: renamed('Zweiter'), by: 'b' });
    expect(second).toEqual({ ok: false, reason: 'conflict', currentVersion: base + 1 });
    expect((await readLiveConfigFresh(db, kv)).config.speakers[1].name).toBe('Erster');
    expect(await kv.get(versionKey(base + 2))).toBeNull();
  });

  it('lets exactly one of two concurrent publishes from one base win; the other gets a conflict', async () => {
    const base = await pointer();
    const results = await Promise.all([
      publishConfig(db, kv, { baseVersion: base, config: renamed('Links'), by: 'a' }),
      publishConfig(db, kv, { baseVersion: base, config: renamed('Rechts'), by: 'b' }),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok)).toEqual([
      { ok: false, reason: 'conflict', currentVersion: base + 1 },
    ]);
    const winner = results[0].ok ? 'Links' : 'Rechts';
    // The stored record, the editor's view and the visitors' mirror all show the winner.
    const record = await kv.get<ConfigRecord>(versionKey(base + 1), 'json');
    expect(record!.config.speakers[1].name).toBe(winner);
    expect((await readLiveConfigFresh(db, kv)).config.speakers[1].name).toBe(winner);
    expect((await getLiveConfig(kv)).config.speakers[1].name).toBe(winner);
    expect(await kv.get(versionKey(base + 2))).toBeNull();
  });

  it('moves the pointer back when the version record cannot be written', async () => {
    const base = await pointer();
    const put = vi.spyOn(kv, 'put').mockRejectedValueOnce(new Error('KV put failed: 500'));
    await expect(
      publishConfig(db, kv, { baseVersion: base, config: renamed('Verloren'), by: 'x' }),
    ).rejects.toThrow('KV put failed');
    put.mockRestore();
    expect(await pointer()).toBe(base);
    expect(await kv.get(CURRENT_KEY)).toBe(String(base));
    // The next publish from the same base works.
    expect(
      await publishConfig(db, kv, { baseVersion: base, config: renamed('Wieder'), by: 'x' }),
    ).toMatchObject({
      ok: true,
      version: base + 1,
    });
  });

  it('rejects an invalid config with field paths and German messages, writing nothing', async () => {
    const base = await pointer();
    const bad = clone(DEFAULT_CONFIG) as unknown as Record<string, any>;
    bad.speakers[2].name = '   ';
    bad.webinar.durationMinutes = 5;
    bad.seo.siteUrl = 'http://unsicher.example';
    const result = await publishConfig(db, kv, { baseVersion: base, config: bad, by: 'x' });
    expect(result.ok).toBe(false);
    if (result.ok || result.reason !== 'invalid') throw new Error('expected invalid');
    expect(result.errors['speakers.2.name']).toBe('Der Name darf nicht leer sein.');
    expect(result.errors['webinar.durationMinutes']).toBe('Die Dauer muss mindestens 15 Minuten betragen.');
    expect(result.errors['seo.siteUrl']).toBe('Die Adresse der Seite muss mit https:// beginnen.');
    expect(await pointer()).toBe(base);
  });
});

describe('rollbackConfig and history', () => {
  it('publishes an old version as a new one and lists it first in the history', async () => {
    const base = await pointer();
    const a = await publishConfig(db, kv, { baseVersion: base, config: renamed('Alter Name'), by: 'm1' });
    const b = await publishConfig(db, kv, { baseVersion: base + 1, config: renamed('Neuer Name'), by: 'm2' });
    expect(a.ok && b.ok).toBe(true);
    const back = await rollbackConfig(db, kv, { version: base + 1, by: 'm3' });
    expect(back).toMatchObject({ ok: true, version: base + 3 });
    expect((await getLiveConfig(kv)).config.speakers[1].name).toBe('Alter Name');

    const history = await listHistory(kv);
    expect(history[0]).toMatchObject({ version: base + 3, publishedBy: 'm3' });
    expect(history[0].summary).toBe(
      `Zurückgesetzt auf Version ${base + 1}: Referent umbenannt: Neuer Name → Alter Name`,
    );
    expect(history[1]).toMatchObject({
      version: base + 2,
      publishedBy: 'm2',
      summary: 'Referent umbenannt: Alter Name → Neuer Name',
    });
    expect(history.map((h) => h.version)).toEqual([...history.map((h) => h.version)].sort((x, y) => y - x));
  });

  it('rolls back to version 0, the repo default', async () => {
    await publishConfig(db, kv, {
      baseVersion: await pointer(),
      config: renamed('Irgendwer'),
      by: 'm',
    });
    const back = await rollbackConfig(db, kv, { version: 0, by: 'm' });
    expect(back.ok).toBe(true);
    expect((await getLiveConfig(kv)).config.speakers[1].name).toBe(DEFAULT_CONFIG.speakers[1].name);
  });

  it('answers a rollback to an unknown version with unknown_version', async () => {
    expect(await rollbackConfig(db, kv, { version: 999_999, by: 'm' })).toEqual({
      ok: false,
      reason: 'unknown_version',
    });
  });
});

describe('a corrupt stored config', () => {
  it('is never rendered: the newest valid older version is, with fallbackFrom set', async () => {
    const base = await pointer();
    await publishConfig(db, kv, { baseVersion: base, config: renamed('Gültig'), by: 'm' });
    const broken = { ...renamed('Kaputt'), webinar: { title: '' } };
    await kv.put(versionKey(base + 2), JSON.stringify({ version: base + 2, config: broken }));
    // As a publish would leave it: the pointer in D1 and its mirror in KV.
    await db
      .prepare('UPDATE config_pointer SET version = ?1 WHERE id = 1')
      .bind(base + 2)
      .run();
    await kv.put(CURRENT_KEY, String(base + 2));
    resetConfigCache();

    const live = await getLiveConfig(kv);
    expect(live).toMatchObject({ version: base + 1, fallbackFrom: base + 2 });
    expect(live.config.speakers[1].name).toBe('Gültig');
    expect(await readLiveConfigFresh(db, kv)).toMatchObject({ version: base + 1, fallbackFrom: base + 2 });

    // The marketer publishes over it, based on the corrupt current version.
    const fixed = await publishConfig(db, kv, {
      baseVersion: base + 2,
      config: renamed('Repariert'),
      by: 'm',
    });
    expect(fixed).toMatchObject({ ok: true, version: base + 3 });
    const after = await getLiveConfig(kv);
    expect(after.fallbackFrom).toBeUndefined();
    expect(after.config.speakers[1].name).toBe('Repariert');
  });
});

describe('summarizeChanges', () => {
  it('names added, removed, renamed and re-ordered speakers and changed fields in German', () => {
    const after = clone(DEFAULT_CONFIG);
    after.webinar.title = 'Ein neuer Titel';
    after.giveaway.prize = 'Silber';
    after.form.heading = 'Jetzt anmelden';
    after.speakers = [...after.speakers].reverse();
    after.speakers.pop();
    after.speakers.push({ id: 'neu', name: 'Neue Person', role: 'Gast', bio: 'Kurz.' });
    const line = summarizeChanges(DEFAULT_CONFIG, after);
    expect(line).toContain('Referent hinzugefügt: Neue Person');
    expect(line).toContain(`Referent entfernt: ${DEFAULT_CONFIG.speakers[0].name}`);
    expect(line).toContain('Referenten neu sortiert');
    expect(line).toContain('Titel geändert');
    expect(line).toContain('Gewinnspiel-Preis geändert');
    expect(line).toContain('Formulartexte geändert');
  });

  it('says so when nothing changed', () => {
    expect(summarizeChanges(DEFAULT_CONFIG, clone(DEFAULT_CONFIG))).toBe('Keine inhaltliche Änderung');
  });
});
