/**
 * Duplicate storm (issue 6, "Bad input"): 50 registrations of one address at the same
 * moment, over the real HTTP path (SELF), each from its own IP and with its own consents
 * and campaign. One lead results, holding exactly one request's consents and source
 * (the first one stored), never a mixture and never overwritten by a later one.
 */
import { env, SELF } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LEAD_PREFIX, type LeadMetadata } from '../../worker/lead-store';
import { storedLead, uniqueEmail, uniqueIp } from './helpers';

const STORM = 50;

afterEach(() => vi.restoreAllMocks());

async function leadsFor(email: string): Promise<number> {
  let count = 0;
  let cursor: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const res = await env.LEADS.list<LeadMetadata>({ prefix: LEAD_PREFIX, ...(cursor ? { cursor } : {}) });
    count += res.keys.filter((k) => k.metadata?.e === email).length;
    if (res.list_complete) break;
    cursor = res.cursor;
  }
  return count;
}

function storm(email: string, variant: (i: number) => string) {
  return Promise.all(
    Array.from({ length: STORM }, (_, i) =>
      SELF.fetch('https://webinar.test/api/register', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'cf-connecting-ip': uniqueIp() },
        body: JSON.stringify({
          email: variant(i),
          privacy: true,
          giveaway: i % 2 === 0,
          newsletter: i % 3 === 0,
          utm_source: `storm-${i}`,
        }),
      }).then(async (res) => ({ status: res.status, body: await res.json() })),
    ),
  );
}

describe('50 concurrent registrations of one address', () => {
  it('answer alike and leave one lead with the consents of the first one stored', async () => {
    const email = uniqueEmail('storm');
    const { id } = await storedLead(email);
    const put = vi.spyOn(env.LEADS, 'put');
    const answers = await storm(email, () => email);
    // One write for the lead, however many requests raced (the mail markers aside).
    expect(put.mock.calls.filter(([key]) => key === LEAD_PREFIX + id)).toHaveLength(1);
    expect(answers.map((a) => a.status)).toEqual(Array(STORM).fill(200));
    for (const a of answers) expect(a.body).toEqual({ ok: true });

    expect(await leadsFor(email)).toBe(1);
    const { record, metadata } = await storedLead(email);
    expect(record).not.toBeNull();
    // Whose request was stored: its campaign tells; consents must be that request's own.
    const first = Number(/^storm-(\d+)$/.exec(record!.source.utm_source ?? '')?.[1]);
    expect(Number.isInteger(first)).toBe(true);
    expect(Boolean(record!.consents.giveaway)).toBe(first % 2 === 0);
    expect(Boolean(record!.consents.newsletter)).toBe(first % 3 === 0);
    // Written once: no later repeat overwrote or merged into it.
    expect(record!.updatedAt).toBe(record!.createdAt);
    expect(metadata).toMatchObject({ e: email, s: 'pending', us: `storm-${first}` });
  });

  it('treats case and whitespace variants of the address as the same person', async () => {
    const email = uniqueEmail('stormcase');
    const variants = [email, email.toUpperCase(), `  ${email}  `, `\t${email.replace('storm', 'STORM')}`];
    const answers = await storm(email, (i) => variants[i % variants.length]);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(await leadsFor(email)).toBe(1);
    expect((await storedLead(email)).record!.email).toBe(email);
  });
});
