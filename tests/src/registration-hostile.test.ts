/** Registration validation under hostile input (issue 12): long names, UTM values as tokens. */
import { describe, expect, it } from 'vitest';
import { validateRegistration } from '../../src/lib/registration';

describe('validateRegistration', () => {
  it('refuses an 8 KB first name by its length', () => {
    for (let i = 0; i < 20; i++) {
      const r = validateRegistration({
        email: 'a@beispiel.de',
        privacy: true,
        firstName: 'a'.repeat(8000) + '.com',
      });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.errors.firstName).toMatch(/höchstens 50/);
    }
  });

  it('reduces UTM values to a plain token set instead of refusing the registration', () => {
    const r = validateRegistration({
      email: 'a@beispiel.de',
      privacy: true,
      utm_source: ';=1+1',
      utm_medium: 'news letter,=HYPERLINK("x")',
      utm_campaign: 'launch_2027-03.a~b',
      utm_term: 'x'.repeat(300),
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.utm_source).toBe('11');
    expect(r.value.utm_medium).toBe('newsletterHYPERLINKx');
    expect(r.value.utm_campaign).toBe('launch_2027-03.a~b');
    expect(r.value.utm_term).toHaveLength(200);
  });
});
