/**
 * Duplicate storm (issue 6, "Bad input"): 50 registrations of one address at the same
 * moment, over the real HTTP path (SELF), each from its own IP and with its own consents
 * and campaign. One lead results, holding exactly one request's consents and source
 * (the first one stored), never a mixture and never overwritten by a later one.
 */
import { env, SELF } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { activeConsent } from '../../worker/store/lead-store';
import { solvedChallenge, storedLead, uniqueEmail, uniqueIp } from './helpers';

const STORM = 50;

afterEach(() => vi.restoreAllMocks());

/** Leads stored for any spelling of this address (as typed, case folded). */
async function leadsFor(email: string): Promise<number> {
  const row = await env.DB.prepare('SELECT COUNT(*) AS n FROM leads WHERE lower(trim(email)) = ?1')
    .bind(email.toLowerCase())
    .first<{ n: number }>();
  return row!.n;
}

/** STORM posts at the same moment, each with its own solved challenge (solved beforehand). */
async function storm(email: string, variant: (i: number) => string) {
  const solutions = await Promise.all(Array.from({ length: STORM }, () => solvedChallenge()));
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
          altcha: solutions[i],
        }),
      }).then(async (res) => ({ status: res.status, body: await res.json() })),
    ),
  );
}

describe('50 concurrent registrations of one address', () => {
  it('answer alike and leave one lead with the consents of the first one stored', async () => {
    const email = uniqueEmail('storm');
    const batch = vi.spyOn(env.DB, 'batch');
    const answers = await storm(email, () => email);
    // One round trip to D1 per registration: the batch decides the race itself.
    expect(batch).toHaveBeenCalledTimes(STORM);
    expect(answers.map((a) => a.status)).toEqual(Array(STORM).fill(200));
    for (const a of answers) expect(a.body).toEqual({ ok: true });

    expect(await leadsFor(email)).toBe(1);
    const { lead } = await storedLead(email);
    expect(lead).not.toBeNull();
    // Whose request created the lead: its campaign tells; its consents must be among them.
    const first = Number(/^storm-(\d+)$/.exec(lead!.source.utm_source ?? '')?.[1]);
    expect(Number.isInteger(first)).toBe(true);
    if (first % 2 === 0) expect(activeConsent(lead!, 'giveaway')).toBeDefined();
    if (first % 3 === 0) expect(activeConsent(lead!, 'newsletter')).toBeDefined();
    // Consents are append-only and one per kind, all pending, however many requests raced.
    for (const kind of ['privacy', 'giveaway', 'newsletter'] as const)
      expect(lead!.consents.filter((c) => c.kind === kind).length).toBeLessThanOrEqual(1);
    expect(lead!.consents.every((c) => c.status === 'pending')).toBe(true);
    expect(lead!.status).toBe('pending');
    expect(lead!.updatedAt).toBe(lead!.createdAt);
  });

  it('treats case and whitespace variants of the address as the same person', async () => {
    const email = uniqueEmail('stormcase');
    const variants = [email, email.toUpperCase(), `  ${email}  `, `\t${email.replace('storm', 'STORM')}`];
    const answers = await storm(email, (i) => variants[i % variants.length]);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(await leadsFor(email)).toBe(1);
    expect((await storedLead(email)).lead!.email.trim().toLowerCase()).toBe(email);
  });
});
