/**
 * "Bereits N Anmeldungen": the real count of confirmed registrations from D1, cached a
 * minute per isolate, never waited for again once counted, hidden when D1 fails, and
 * shown on the live page only when the published config switches it on.
 */
import { env, SELF } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_CONFIG,
  publishConfig,
  readLiveConfigFresh,
  resetConfigCache,
} from '../../worker/config-store';
import {
  COUNT_TTL_MS,
  confirmedRegistrations,
  resetRegistrationCount,
} from '../../worker/registration-count';
import { resetRenderCache } from '../../worker/render';
import { registrationsLine } from '../../src/components/page';

let seq = 0;
/** Inserts leads with the given statuses; each row is its own person. */
async function insertLeads(...statuses: ('pending' | 'confirmed' | 'unsubscribed')[]) {
  const now = Date.now();
  await env.DB.batch(
    statuses.map((status) => {
      seq += 1;
      const id = seq.toString(16).padStart(64, '0');
      return env.DB.prepare(
        `INSERT INTO leads (id, mailbox, email, status, phase, created_at, updated_at, confirmed_at)
         VALUES (?1, ?1, ?2, ?3, 'before', ?4, ?4, ?5)`,
      ).bind(id, `zaehlung-${seq}@beispiel.de`, status, now, status === 'confirmed' ? now : null);
    }),
  );
}

const confirmedInDb = async () =>
  (await env.DB.prepare("SELECT COUNT(*) AS n FROM leads WHERE status = 'confirmed'").first<{ n: number }>())!
    .n;

beforeEach(() => {
  resetRegistrationCount();
  resetConfigCache();
  resetRenderCache();
});

describe('confirmedRegistrations', () => {
  it('counts confirmed registrations only', async () => {
    const base = await confirmedInDb();
    await insertLeads('confirmed', 'confirmed', 'pending', 'unsubscribed', 'confirmed');
    expect(await confirmedRegistrations(env.DB, Date.now())).toBe(base + 3);
  });

  it('answers from the isolate for a minute, then once more from the old count while it recounts', async () => {
    const t0 = Date.now();
    const first = await confirmedRegistrations(env.DB, t0);
    await insertLeads('confirmed');
    expect(await confirmedRegistrations(env.DB, t0 + COUNT_TTL_MS - 1)).toBe(first);

    const background: Promise<unknown>[] = [];
    const stale = await confirmedRegistrations(env.DB, t0 + COUNT_TTL_MS, (p) => background.push(p));
    expect(stale).toBe(first);
    expect(background).toHaveLength(1);
    await Promise.all(background);
    expect(await confirmedRegistrations(env.DB, t0 + COUNT_TTL_MS + 1)).toBe(first! + 1);
  });

  it('gives null when D1 cannot count, so the page leaves the line out', async () => {
    const broken = {
      prepare: () => {
        throw new Error('D1_ERROR: no such table: leads');
      },
    } as unknown as D1Database;
    expect(await confirmedRegistrations(broken, Date.now())).toBeNull();
  });
});

describe('GET / with the count switched on', () => {
  async function publishCount(show: boolean, minimum: number) {
    const base = (await readLiveConfigFresh(env.DB, env.CONTENT)).version;
    const config = { ...structuredClone(DEFAULT_CONFIG), registrationCount: { show, minimum } };
    const result = await publishConfig(env.DB, env.CONTENT, { baseVersion: base, config, by: 'test' });
    expect(result.ok).toBe(true);
    resetConfigCache();
  }

  it('shows the real count from D1 once it has reached the minimum', async () => {
    await insertLeads('confirmed', 'confirmed');
    const n = await confirmedInDb();
    await publishCount(true, n);
    const html = await (await SELF.fetch('https://webinar.test/')).text();
    expect(html).toContain(`<p class="proof">${registrationsLine(n)}</p>`);
  });

  it('leaves the line out below the minimum and when switched off', async () => {
    const n = await confirmedInDb();
    await publishCount(true, n + 1);
    expect(await (await SELF.fetch('https://webinar.test/')).text()).not.toContain('Bereits');
    await publishCount(false, 0);
    expect(await (await SELF.fetch('https://webinar.test/')).text()).not.toContain('Bereits');
  });
});
