import { env } from 'cloudflare:test';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { readAudit } from '../../worker/audit-log';
import { getLiveConfig } from '../../worker/config-store';
import { sha256Hex } from '../../worker/crypto';
import { pickDistinct, randomIndex } from '../../worker/giveaway-draw';
import { eraseAddress, eraseLeadById } from '../../worker/store/lead-store';
import { parseCsv } from '../helpers/csv.mjs';
import { emptyPersonData, OPS, postJsonInit, request, seedLead } from './admin-helpers';

interface Winner {
  leadId: string;
  email?: string;
  firstName?: string;
}
interface DrawAnswer {
  id: string;
  seriesId: string;
  seq: number;
  by: string;
  eligibleCount: number;
  eligibleHash: string;
  winners: Winner[];
  redraw?: { reason: string; replaces: string };
}

/** The deadline the draw route uses: the live config's (whatever the content says). */
async function deadlineMs(): Promise<number> {
  return Date.parse((await getLiveConfig(env.CONTENT)).config.giveaway.deadline);
}

const draw = (body: unknown, bindings: Partial<Env> = {}) =>
  request('/api/admin/giveaway/draw', postJsonInit(body, OPS()), bindings);

async function drawOk(body: unknown): Promise<DrawAnswer> {
  const res = await draw(body);
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { draw: DrawAnswer }).draw;
}

const drawRows = () => env.DB.prepare('SELECT series_id, seq, winners FROM draws ORDER BY seq').all();

/** `n` leads that may win: confirmed, giveaway entry a day before the deadline. */
async function eligiblePool(n: number, tag = 'win') {
  const at = (await deadlineMs()) - 86_400_000;
  const leads = [];
  for (let i = 0; i < n; i++)
    leads.push(
      await seedLead({
        email: `${tag}${i}@beispiel.de`,
        firstName: `Gewinner`,
        at,
        status: 'confirmed',
        giveaway: true,
      }),
    );
  return leads;
}

beforeEach(emptyPersonData);

describe('who is eligible', () => {
  it('draws among eligible entries only and records count, hash of sorted ids and winners', async () => {
    const d0 = await deadlineMs();
    const eligible = await eligiblePool(5);
    const before = d0 - 86_400_000;
    // Not eligible: no giveaway entry, unconfirmed, unsubscribed, entered after the deadline,
    // giveaway consent withdrawn.
    await seedLead({ at: before, status: 'confirmed' });
    await seedLead({ at: before, giveaway: true });
    await seedLead({ at: before, status: 'unsubscribed', giveaway: true });
    await seedLead({ at: d0 + 60_000, status: 'confirmed', giveaway: true });
    const withdrawn = await seedLead({ at: before, status: 'confirmed', giveaway: true });
    await env.DB.prepare(
      "UPDATE consents SET status = 'withdrawn', withdrawn_at = ?2 WHERE lead_id = ?1 AND kind = 'giveaway'",
    )
      .bind(withdrawn.id, before + 1)
      .run();

    const d = await drawOk({ winners: 2 });
    const ids = eligible.map((l) => l.id).sort();
    expect(d.eligibleCount).toBe(5);
    expect(d.eligibleHash).toBe(await sha256Hex(ids.join('\n')));
    expect(d.seriesId).toBe(`giveaway:${new Date(d0).toISOString()}`);
    expect(d.seq).toBe(1);
    expect(d.by).toBe('token:ops');
    expect(d.winners).toHaveLength(2);
    expect(new Set(d.winners.map((w) => w.leadId)).size).toBe(2);
    for (const w of d.winners) {
      const lead = eligible.find((l) => l.id === w.leadId);
      expect(lead).toBeDefined();
      expect(w).toEqual({ leadId: lead!.id, email: lead!.email, firstName: 'Gewinner' });
    }

    // The record holds lead ids only; contact data comes from the leads when shown.
    const [row] = (await drawRows()).results;
    expect(JSON.parse(String(row.winners))).toEqual(d.winners.map((w) => w.leadId));
    expect(JSON.stringify(await env.DB.prepare('SELECT * FROM draws').all())).not.toContain('@beispiel.de');

    const { entries } = await readAudit(env.DB);
    expect(entries).toContainEqual(
      expect.objectContaining({
        action: 'giveaway.drawn',
        id: 'token:ops',
        detail: expect.objectContaining({
          eligible: 5,
          winners: 2,
          eligibleHash: d.eligibleHash,
          draw: d.id,
        }),
      }),
    );
    expect(JSON.stringify(entries)).not.toContain('@beispiel.de');

    const list = await request('/api/admin/giveaway/draws', { headers: OPS() });
    expect(((await list.json()) as { draws: unknown[] }).draws).toEqual([d]);
  });

  it('counts one entry per mailbox: a.b@gmail.com and ab+x@gmail.com are one, the earlier lead', async () => {
    const at = (await deadlineMs()) - 86_400_000;
    const first = await seedLead({ email: 'a.b@gmail.com', at, status: 'confirmed', giveaway: true });
    await seedLead({ email: 'ab+x@gmail.com', at: at + 1000, status: 'confirmed', giveaway: true });
    const other = await seedLead({ email: 'ab@beispiel.de', at, status: 'confirmed', giveaway: true });
    const d = await drawOk({ winners: 2 });
    expect(d.eligibleCount).toBe(2);
    expect(d.eligibleHash).toBe(await sha256Hex([first.id, other.id].sort().join('\n')));
    expect(d.winners.map((w) => w.leadId).sort()).toEqual([first.id, other.id].sort());
  });

  it('never lets an erased lead win, even when it is erased while the draw runs', async () => {
    const pool = await eligiblePool(3, 'erase');
    await eraseAddress(env.DB, env.LEAD_KEY_SECRET, pool[0].email, { atMs: Date.now(), by: 'ops' });
    const tooMany = await draw({ winners: 3 });
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as { error: string }).error).toMatch(/nur 2 teilnahmeberechtigte/);

    // Between reading the set and writing the record, the lead just picked is erased: the
    // record must not name it, and the draw is made again from what is left.
    let erasedWinner: string | undefined;
    const drawInserts = new WeakMap<object, unknown[]>();
    const racing = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === 'prepare')
          return (query: string) => {
            const stmt = target.prepare(query);
            if (!query.includes('INSERT INTO draws')) return stmt;
            return new Proxy(stmt, {
              get(s, p) {
                if (p !== 'bind') return Reflect.get(s, p).bind(s);
                return (...args: unknown[]) => {
                  const bound = s.bind(...args);
                  drawInserts.set(bound, args);
                  return bound;
                };
              },
            });
          };
        if (prop === 'batch')
          return async (stmts: D1PreparedStatement[]) => {
            const args = drawInserts.get(stmts[0]);
            if (args && !erasedWinner) {
              [erasedWinner] = JSON.parse(String(args[9])) as string[];
              await eraseLeadById(target, erasedWinner, { atMs: Date.now(), by: 'ops' });
            }
            return target.batch(stmts);
          };
        const value = Reflect.get(target, prop);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const res = await draw({ winners: 1 }, { DB: racing });
    expect(res.status).toBe(200);
    const d = ((await res.json()) as { draw: DrawAnswer }).draw;
    expect(erasedWinner).toBeDefined();
    const survivor = pool.slice(1).find((l) => l.id !== erasedWinner)!;
    expect(d.winners.map((w) => w.leadId)).toEqual([survivor.id]);
    expect((await drawRows()).results.map((r) => JSON.parse(String(r.winners)))).toEqual([[survivor.id]]);
  });

  it('shows an erased winner by id only, and keeps the draw', async () => {
    const [lead] = await eligiblePool(1, 'gone');
    const d = await drawOk({ winners: 1 });
    expect(d.winners[0].email).toBe(lead.email);
    await eraseAddress(env.DB, env.LEAD_KEY_SECRET, lead.email, { atMs: Date.now(), by: 'ops' });
    const list = (await (await request('/api/admin/giveaway/draws', { headers: OPS() })).json()) as {
      draws: DrawAnswer[];
    };
    expect(list.draws.map((x) => x.winners)).toEqual([[{ leadId: lead.id }]]);
  });

  it('lets ops rebuild the eligible set and its hash from the export (eligible=1)', async () => {
    const d0 = await deadlineMs();
    await eligiblePool(4, 'export');
    await seedLead({ email: 'x.y@gmail.com', at: d0 - 5000, status: 'confirmed', giveaway: true });
    await seedLead({ email: 'xy+zwei@gmail.com', at: d0 - 4000, status: 'confirmed', giveaway: true });
    await seedLead({ at: d0 - 5000, giveaway: true }); // unconfirmed
    await seedLead({ at: d0 + 5000, status: 'confirmed', giveaway: true }); // too late
    const d = await drawOk({ winners: 1 });

    const csv = await (await request('/api/admin/leads?format=csv&eligible=1', { headers: OPS() })).text();
    const ids = parseCsv(csv, ',')
      .slice(1)
      .map((r) => r[0]);
    expect(ids).toHaveLength(d.eligibleCount);
    expect(d.eligibleCount).toBe(5);
    expect(await sha256Hex([...ids].sort().join('\n'))).toBe(d.eligibleHash);

    const nd = await (await request('/api/admin/leads?format=ndjson&eligible=1', { headers: OPS() })).text();
    const ndIds = nd
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).id as string);
    expect(await sha256Hex(ndIds.sort().join('\n'))).toBe(d.eligibleHash);
  });
});

describe('one first draw, explicit redraws', () => {
  it('refuses a second draw without redraw (409) and records an explicit redraw with its reason', async () => {
    await eligiblePool(3, 'again');
    const first = await drawOk({ winners: 1 });
    const again = await draw({ winners: 1 });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: string }).error).toMatch(/Neuauslosung mit Begründung/);
    expect((await draw({ winners: 1, redraw: { reason: '' } })).status).toBe(400);
    const redraw = await drawOk({ winners: 1, redraw: { reason: 'Gewinner hat nicht geantwortet' } });
    expect(redraw).toMatchObject({
      seq: 2,
      seriesId: first.seriesId,
      redraw: { reason: 'Gewinner hat nicht geantwortet', replaces: first.id },
    });
    const list = (await (await request('/api/admin/giveaway/draws', { headers: OPS() })).json()) as {
      draws: DrawAnswer[];
    };
    expect(list.draws.map((x) => x.id)).toEqual([redraw.id, first.id]);
  });

  it('never picks an earlier winner of the series in a redraw', async () => {
    const pool = await eligiblePool(4, 'redraw');
    const won: string[] = [];
    for (let i = 0; i < 4; i++) {
      const d = await drawOk({ winners: 1, ...(i ? { redraw: { reason: `Runde ${i + 1}` } } : {}) });
      won.push(d.winners[0].leadId);
      expect(d.eligibleCount).toBe(4);
    }
    expect(won.sort()).toEqual(pool.map((l) => l.id).sort());
    const fifth = await draw({ winners: 1, redraw: { reason: 'Runde 5' } });
    expect(fifth.status).toBe(400);
    expect(((await fifth.json()) as { error: string }).error).toMatch(/nur 0 .*noch nicht gewonnen/);
  });

  it('accepts exactly one of two concurrent first draws; the other is answered as already drawn', async () => {
    await eligiblePool(3, 'race');
    const answers = await Promise.all([draw({ winners: 1 }), draw({ winners: 1 })]);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 409]);
    expect((await drawRows()).results.map((r) => r.seq)).toEqual([1]);

    // Two concurrent redraws: one gets seq 2, the other is refused the same way.
    const redraws = await Promise.all([
      draw({ winners: 1, redraw: { reason: 'Nicht erreichbar' } }),
      draw({ winners: 1, redraw: { reason: 'Nicht erreichbar' } }),
    ]);
    expect(redraws.map((r) => r.status).sort()).toEqual([200, 409]);
    expect((await drawRows()).results.map((r) => r.seq)).toEqual([1, 2]);
  });

  it('answers 400 when more winners are asked for than there are eligible entries, and records nothing', async () => {
    await eligiblePool(2, 'few');
    const res = await draw({ winners: 3 });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/nur 2 teilnahmeberechtigte/);
    expect((await drawRows()).results).toEqual([]);
  });

  it('validates the winner count with a German message', async () => {
    for (const winners of [0, 1.5, '2', 1001]) {
      const res = await draw({ winners });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(/zwischen 1 und 1000/);
    }
  });

  it('answers 503 when the database fails, and records nothing', async () => {
    await eligiblePool(1, 'down');
    const broken = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === 'batch') return async () => Promise.reject(new Error('D1_ERROR: injected'));
        const value = Reflect.get(target, prop);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await draw({ winners: 1 }, { DB: broken });
    expect(res.status).toBe(503);
    expect((await drawRows()).results).toEqual([]);
  });
});

describe('random choice', () => {
  it('rejects values that would bias the modulo', () => {
    // n = 3: 2^32 mod 3 = 1, so 4294967295 must be redrawn.
    const values = [4294967295, 7];
    const idx = randomIndex(3, (buf) => {
      buf[0] = values.shift()!;
      return buf;
    });
    expect(idx).toBe(1);
    expect(values).toEqual([]);
  });

  it('picks distinct items, each with roughly equal frequency', () => {
    const counts = new Map<number, number>();
    for (let i = 0; i < 3000; i++)
      for (const x of pickDistinct([0, 1, 2, 3, 4], 2)) counts.set(x, (counts.get(x) ?? 0) + 1);
    for (const x of [0, 1, 2, 3, 4]) expect(counts.get(x)!).toBeGreaterThan(1000); // expected 1200
  });
});
