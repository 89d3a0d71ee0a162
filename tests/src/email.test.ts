import { describe, expect, it } from 'vitest';
import { asciiDomain, displayEmail, isEmailAddress, mailAddress, normaliseEmail } from '../../src/lib/email';
import { validateRegistration, validateRegistrationField } from '../../src/lib/registration';

describe('normaliseEmail', () => {
  // Internationalised domains
  it('turns an umlaut domain into lower-case punycode', () => {
    expect(normaliseEmail('info@müller-bau.de')).toBe('info@xn--mller-bau-q9a.de');
  });

  it('gives typed and punycode spellings of one address the same form', () => {
    expect(normaliseEmail(' Info@MÜLLER-Bau.DE ')).toBe(normaliseEmail('info@xn--mller-bau-q9a.de'));
  });

  it('folds composed and decomposed umlauts into one form', () => {
    const decomposed = 'info@mu\u0308ller-bau.de';
    expect(normaliseEmail(decomposed)).toBe('info@xn--mller-bau-q9a.de');
  });

  // Plain addresses
  it('trims and lower-cases an ASCII address and leaves it otherwise alone', () => {
    expect(normaliseEmail('  Max.Mustermann+Webinar@Example.COM ')).toBe(
      'max.mustermann+webinar@example.com',
    );
  });

  it('only trims and lower-cases input without an @', () => {
    expect(normaliseEmail(' Kein-At ')).toBe('kein-at');
  });
});

describe('displayEmail', () => {
  it('keeps the address as typed, umlauts and capitals included', () => {
    expect(displayEmail('  Info@Müller-Bau.de ')).toBe('Info@Müller-Bau.de');
  });
});

describe('mailAddress', () => {
  it('sends to the punycode domain and keeps the local part', () => {
    expect(mailAddress('Info@müller-bau.de')).toBe('Info@xn--mller-bau-q9a.de');
  });

  it('leaves an ASCII address unchanged apart from surrounding spaces', () => {
    expect(mailAddress(' anna@beispiel.de ')).toBe('anna@beispiel.de');
  });
});

describe('asciiDomain', () => {
  it('refuses characters the URL parser would read as port, path or user', () => {
    expect(asciiDomain('müller.de:25')).toBeNull();
    expect(asciiDomain('müller.de/x')).toBeNull();
  });
});

describe('isEmailAddress', () => {
  it('counts the 254-character limit on the punycode form', () => {
    const typed = `${'a'.repeat(60)}@müller.${`${'b'.repeat(60)}.`.repeat(3)}de`;
    expect(typed.length).toBeLessThanOrEqual(254);
    expect(normaliseEmail(typed).length).toBeGreaterThan(254);
  });

  it.each([
    'info@müller-bau.de',
    'info@xn--mller-bau-q9a.de',
    'anna.schmidt+webinar@beispiel.de',
    'kontakt@bücher.рф',
    'a@b.co',
  ])('accepts %s', (address) => {
    expect(isEmailAddress(address)).toBe(true);
  });

  it.each([
    ['max.mustermann@gmail', 'no top-level domain'],
    ['max@', 'no domain'],
    ['@beispiel.de', 'no local part'],
    ['jürgen@beispiel.de', 'a non-ASCII local part'],
    ['max..m@beispiel.de', 'two dots in a row'],
    ['max@beispiel..de', 'an empty label'],
    ['max@-beispiel.de', 'a label starting with a hyphen'],
    ['max@müller.de:25', 'a port'],
    ['max@192.168.0.1', 'an IP address'],
    // 253 characters as typed, 260 in punycode.
    [`${'a'.repeat(60)}@müller.${`${'b'.repeat(60)}.`.repeat(3)}de`, 'over 254 characters as punycode'],
  ])('refuses %s (%s)', (address) => {
    expect(isEmailAddress(address)).toBe(false);
  });
});

describe('Registration email field', () => {
  it('accepts an internationalised domain and keeps it as typed, lower-cased', () => {
    const result = validateRegistration({ email: ' Info@Müller-Bau.de ', privacy: true });
    expect(result.ok && result.value.email).toBe('info@müller-bau.de');
  });

  it('still explains a typo in German', () => {
    expect(validateRegistrationField('email', 'max.mustermann@gmail')).toBe(
      'Bitte geben Sie eine gültige E-Mail-Adresse ein, z. B. name@beispiel.de.',
    );
  });
});
