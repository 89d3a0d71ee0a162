/** The export CLI's options (scripts/leads-export.ts): where it may send the ops token. */
import { describe, expect, it } from 'vitest';
import { parseOptions } from '../../scripts/leads-export';

const args = (url: string) => ['--url', url, '--token', 'ops-token-0123456789abcdef', '--out', 'leads.csv'];

describe('leads:export --url', () => {
  it.each([
    'https://webinar.example.de',
    'http://localhost:5173',
    'http://127.0.0.1:4173',
    'http://[::1]:8787',
  ])('accepts %s', (url) => {
    expect(parseOptions(args(url)).url.href).toBe(new URL(url).href);
  });

  it.each(['http://webinar.example.de', 'http://10.0.0.5:8787', 'http://localhost.evil.example'])(
    'refuses %s in clear text with a German message',
    (url) => {
      expect(() => parseOptions(args(url))).toThrow(/muss mit https:\/\/ beginnen/);
    },
  );

  it('refuses something that is no address', () => {
    expect(() => parseOptions(args('webinar'))).toThrow(/keine gültige Adresse/);
  });
});
