import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkContentFile, CONTENT_PATH, validateContent } from '../../scripts/validate-content';
import { webinarConfigJsonSchema } from '../../src/lib/webinar-config-json-schema';
import { parseWebinarConfig } from '../../src/lib/webinar-config';
import { shareImageText } from '../../src/lib/share-image';

const content = () => JSON.parse(readFileSync(CONTENT_PATH, 'utf8'));

function tempContent(mutate: (c: any) => void): string {
  const c = content();
  mutate(c);
  const path = join(mkdtempSync(join(tmpdir(), 'content-')), 'webinar.json');
  writeFileSync(path, JSON.stringify(c));
  return path;
}

describe('the default webinar config', () => {
  it('passes WebinarConfig', () => {
    expect(checkContentFile()).toEqual([]);
  });

  it('holds the webinar, six speakers, three topics, the reassurance line and the giveaway', () => {
    const result = parseWebinarConfig(content());
    if (!result.success) throw new Error('default config is invalid');
    const c = result.output;
    expect(c.webinar.title).toBe('Finanzielle Selbstverteidigung: So retten Sie Ihr Vermögen');
    expect(c.reassurance).toBe('Keine Kreditkarte erforderlich • Keine versteckten Kosten');
    expect(c.giveaway.headline).toBe('15.000 € Gold zu gewinnen');
    expect(c.topics.map((t) => t.title)).toEqual([
      'Der gläserne Bürger',
      'Die Systeme greifen ineinander',
      'Konkrete Lösungen zum Schutz',
    ]);
    expect(c.speakers.map((s) => s.name)).toEqual([
      'Dominik Kettner',
      'Dieter Bohlen',
      'Prof. Dr. Werner Patzelt',
      'Peter Hahne',
      'Fürstin Thurn und Taxis',
      'Jochen Staiger',
    ]);
    expect(c.webinar.start).toMatch(/^2027-.*[+-]\d{2}:\d{2}$/);
  });

  it('is described by the committed JSON Schema (run `npm run schema` after changing the schema)', () => {
    const committed = JSON.parse(
      readFileSync(CONTENT_PATH.replace('webinar.json', 'webinar.schema.json'), 'utf8'),
    );
    expect(committed).toEqual(webinarConfigJsonSchema());
  });
});

describe('the default share image (public/og-default.png)', () => {
  /** The PNG's size and its tEXt chunks. */
  function readPng(path: string) {
    const png = readFileSync(path);
    const text: Record<string, string> = {};
    for (let at = 8; at < png.length;) {
      const length = png.readUInt32BE(at);
      const type = png.toString('ascii', at + 4, at + 8);
      if (type === 'tEXt') {
        const [key, value] = png.toString('latin1', at + 8, at + 8 + length).split('\0');
        text[key] = value;
      }
      at += 12 + length;
    }
    return { width: png.readUInt32BE(16), height: png.readUInt32BE(20), text };
  }

  it("is 1200 × 630 and shows the default config's title and date (else run `npm run share-image`)", () => {
    const result = parseWebinarConfig(content());
    if (!result.success) throw new Error('default config is invalid');
    const png = readPng(CONTENT_PATH.replace('src/content/webinar.json', 'public/og-default.png'));
    expect([png.width, png.height]).toEqual([1200, 630]);
    const hash = createHash('sha256')
      .update(JSON.stringify(shareImageText(result.output)))
      .digest('hex');
    expect(png.text['webinar-share-text']).toBe(hash);
  });
});

describe('an invalid config', () => {
  it('is reported with the field path and a readable reason', () => {
    const path = tempContent((c) => {
      c.speakers[2].name = '';
      c.webinar.start = '18.03.2027 19:00';
      delete c.giveaway.headline;
    });
    const problems = checkContentFile(path);
    expect(problems).toContain('speakers.2.name: Der Name darf nicht leer sein.');
    expect(problems.some((p) => p.startsWith('webinar.start: Der Beginn braucht das Format'))).toBe(true);
    expect(problems.some((p) => p.startsWith('giveaway.headline:'))).toBe(true);
  });

  it('reports broken JSON instead of crashing', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'content-')), 'webinar.json');
    writeFileSync(path, '{ "webinar": ');
    expect(checkContentFile(path)[0]).toMatch(/kein gültiges JSON/);
  });

  it('stops the build and the dev server before anything is bundled', () => {
    const path = tempContent((c) => (c.speakers[0].id = 'Kein Slug'));
    const plugin = validateContent(path);
    expect(() => (plugin.config as () => void)()).toThrow(/speakers\.0\.id: Die Kennung darf nur/);
  });

  it('rejects duplicate speaker ids', () => {
    const path = tempContent((c) => (c.speakers[1].id = c.speakers[0].id));
    expect(checkContentFile(path)).toContain('speakers: Jeder Referent braucht eine eigene Kennung.');
  });
});
