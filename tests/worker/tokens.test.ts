import { describe, expect, it } from 'vitest';
import { signToken, tokenMatchesLead, TOKEN_TTL_S, verifyToken } from '../../worker/tokens';

const SECRET = 'test-mail-token-secret-0123456789abcdef';
const LEAD = { id: 'a'.repeat(64), createdAt: '2027-03-01T10:00:00.000Z' };
const NOW = Date.parse('2027-03-02T12:00:00Z');

describe('mail link tokens', () => {
  it('accepts a fresh token for its purpose and names the lead', async () => {
    const t = await signToken(SECRET, 'confirm', LEAD.id, LEAD.createdAt, NOW);
    const check = await verifyToken(SECRET, t, 'confirm', NOW + 1000);
    expect(check.ok).toBe(true);
    if (check.ok) {
      expect(check.claims.leadId).toBe(LEAD.id);
      expect(tokenMatchesLead(check.claims, LEAD)).toBe(true);
    }
  });

  it('keeps personal data out of the token', async () => {
    const t = await signToken(SECRET, 'unsubscribe', LEAD.id, LEAD.createdAt, NOW);
    expect(t).not.toMatch(/@/);
    expect(t.length).toBeLessThan(200);
  });

  // Malformed
  it.each([
    undefined,
    null,
    42,
    '',
    'abc',
    'a.b',
    'x'.repeat(500),
    'abc$def.ghi',
    `${'A'.repeat(60)}.${'B'.repeat(42)}`,
  ])('rejects the malformed token %s', async (bad) => {
    expect(await verifyToken(SECRET, bad, 'confirm', NOW)).toEqual({ ok: false, reason: 'malformed' });
  });

  // Forged
  it('rejects a token signed with another secret', async () => {
    const t = await signToken('another-secret-0123456789abcdef', 'confirm', LEAD.id, LEAD.createdAt, NOW);
    expect(await verifyToken(SECRET, t, 'confirm', NOW)).toEqual({ ok: false, reason: 'signature' });
  });

  it('rejects a token whose payload was changed to another lead', async () => {
    const t = await signToken(SECRET, 'confirm', LEAD.id, LEAD.createdAt, NOW);
    const [payload, sig] = t.split('.');
    const decoded = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const forged = btoa(decoded.replace('a'.repeat(64), 'b'.repeat(64)))
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '');
    expect(await verifyToken(SECRET, `${forged}.${sig}`, 'confirm', NOW)).toEqual({
      ok: false,
      reason: 'signature',
    });
  });

  it('rejects a token with one changed signature character', async () => {
    const t = await signToken(SECRET, 'erase', LEAD.id, LEAD.createdAt, NOW);
    const flipped = t.slice(0, -2) + (t.at(-2) === 'A' ? 'B' : 'A') + t.at(-1);
    expect(await verifyToken(SECRET, flipped, 'erase', NOW)).toEqual({ ok: false, reason: 'signature' });
  });

  // Wrong use
  it('does not let an unsubscribe token confirm', async () => {
    const t = await signToken(SECRET, 'unsubscribe', LEAD.id, LEAD.createdAt, NOW);
    expect(await verifyToken(SECRET, t, 'confirm', NOW)).toEqual({ ok: false, reason: 'purpose' });
  });

  it('expires the confirmation link after 7 days', async () => {
    const t = await signToken(SECRET, 'confirm', LEAD.id, LEAD.createdAt, NOW);
    expect((await verifyToken(SECRET, t, 'confirm', NOW + TOKEN_TTL_S.confirm * 1000 - 5000)).ok).toBe(true);
    expect(await verifyToken(SECRET, t, 'confirm', NOW + TOKEN_TTL_S.confirm * 1000)).toEqual({
      ok: false,
      reason: 'expired',
    });
  });

  it('does not match a later registration of the same address (wrong lead)', async () => {
    const t = await signToken(SECRET, 'erase', LEAD.id, LEAD.createdAt, NOW);
    const check = await verifyToken(SECRET, t, 'erase', NOW);
    expect(check.ok).toBe(true);
    if (check.ok) {
      expect(tokenMatchesLead(check.claims, { ...LEAD, createdAt: '2027-04-01T10:00:00.000Z' })).toBe(false);
      expect(tokenMatchesLead(check.claims, { ...LEAD, id: 'c'.repeat(64) })).toBe(false);
    }
  });

  it('refuses to sign without a proper secret', async () => {
    await expect(signToken('short', 'confirm', LEAD.id, LEAD.createdAt)).rejects.toThrow(/MAIL_TOKEN_SECRET/);
  });
});

describe('lifetimes', () => {
  it('lets a pending consent expire exactly when its confirmation link does', async () => {
    const { PENDING_CONSENT_TTL_MS } = await import('../../worker/store/lead-store');
    const { TOKEN_TTL_S } = await import('../../worker/tokens');
    expect(PENDING_CONSENT_TTL_MS).toBe(TOKEN_TTL_S.confirm * 1000);
  });
});
