/**
 * fast-check generators and checks shared by the fuzz tests (issue 6, "Bad input").
 *
 * Every generated string that could end up in HTML carries a marker (`xss<N>q`), so a
 * check can find each reflection of it in a rendered page and decide whether it stayed
 * inert (inside an escaped `value="…"` attribute or a JSON data block) or became markup.
 */
import fc from 'fast-check';

let seq = 0;
/** A marker no other generated value contains (`xss` + counter + `q`). */
export function nextMarker(): string {
  seq += 1;
  return `xss${seq}q`;
}

/** Markup and header-injection templates; `M` is replaced by a fresh marker. */
export const INJECTIONS = [
  `"><script>alert('M')</script>`,
  `<script>alert('M')</script>`,
  `<img src=x onerror=alert('M')>`,
  `' onfocus='alert("M")' autofocus='`,
  `" onmouseover="alert('M')" x="`,
  `</script><script>alert('M')</script>`,
  `</textarea></label><svg/onload=alert('M')>`,
  `<!--M--><iframe src=javascript:alert('M')>`,
  `javascript:alert('M')`,
  `M\r\nX-Injected: M`,
  `M@beispiel.de\r\nBcc: M@evil.example`,
  `M%0d%0aSet-Cookie: M=1`,
  `M\u2028\u2029</script>`,
  `{{M}} \${M} <%= M %>`,
  `<style>@import 'https://evil.example/M'</style>`,
  `M\u202e\u2066gnp.exe\u0000`,
] as const;

export const injection = fc
  .constantFrom(...INJECTIONS)
  .map((template) => template.replaceAll('M', nextMarker()));

const NASTY_UNITS = [
  '\u0000',
  '\r',
  '\n',
  '\t',
  '\u0007',
  '\u001b',
  '\u007f',
  '\u0085',
  '\u200b',
  '\u200e',
  '\u202a',
  '\u202e',
  '\u2066',
  '\u2069',
  '\ufeff',
  '\ufffd',
  '\ud800', // a lone surrogate: invalid once encoded
  '😀',
  '👩‍👩‍👧',
  '🇩🇪',
  'é',
  'e\u0301',
  'ß',
  'Ø',
  '<',
  '>',
  '"',
  "'",
  '&',
  '/',
  '\\',
  '%',
  '+',
  '=',
  ';',
  '@',
  '.',
  ' ',
  'a',
  'Z',
] as const;

/** Short strings of control, bidi, zero-width and markup characters mixed with letters. */
export const nastyString = fc.string({ unit: fc.constantFrom(...NASTY_UNITS), maxLength: 40 });

/** Strings that are a problem for their size alone (up to ~7 KB, under the body limit). */
export const hugeString = fc
  .tuple(fc.constantFrom('A', 'ä', '😀', '<', '\u0000', 'a@'), fc.integer({ min: 200, max: 2_500 }))
  .map(([unit, n]) => unit.repeat(n));

/** Any string at all (full Unicode, including lone surrogates and control characters). */
export const anyString = fc.string({ unit: 'binary', maxLength: 60 });

/** Arrays and objects nested up to ~400 levels. */
export const deepNesting = fc
  .tuple(fc.integer({ min: 2, max: 400 }), fc.constantFrom('[', '{'))
  .map(([depth, open]) => {
    let v: unknown = 'x';
    for (let i = 0; i < depth; i++) v = open === '[' ? [v] : { a: v };
    return v;
  });

export const wrongType = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
  deepNesting,
);

/** A string field's value: mostly strings of every kind, sometimes the wrong type. */
export const fieldString = fc.oneof(
  { weight: 4, arbitrary: injection },
  { weight: 4, arbitrary: nastyString },
  { weight: 3, arbitrary: anyString },
  { weight: 1, arbitrary: hugeString },
);

let emailSeq = 0;
/** A valid, never-repeated address (so storage can be checked per address). */
export const freshEmail = fc.constantFrom('', ' ', '  ', '\t').chain((pad) =>
  fc.boolean().map((upper) => {
    emailSeq += 1;
    const local = `fuzz.${Date.now().toString(36)}.${emailSeq}`;
    const addr = `${local}@beispiel.de`;
    return pad + (upper ? addr.toUpperCase() : addr) + pad;
  }),
);

/** An email field: a fresh valid address, one with an injection glued on, or junk. */
export const emailValue = fc.oneof(
  { weight: 4, arbitrary: freshEmail },
  { weight: 2, arbitrary: fc.tuple(freshEmail, injection).map(([e, i]) => e.trim() + i) },
  { weight: 2, arbitrary: fc.tuple(injection, freshEmail).map(([i, e]) => i + e.trim()) },
  { weight: 2, arbitrary: fc.emailAddress() },
  { weight: 2, arbitrary: fieldString },
  { weight: 1, arbitrary: wrongType },
);

export const checkboxValue = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<unknown>(true, 'on', 'true', '', false) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>('false', 'yes', 1, 0, 'ON', 'on ', null) },
  { weight: 1, arbitrary: fieldString },
  { weight: 1, arbitrary: wrongType },
);

/** Keys that break naive merging or lookups. */
export const POLLUTING_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
] as const;

const pollutingValue = fc.constantFrom<unknown>(
  { polluted: 'yes', email: 'proto@beispiel.de', privacy: true },
  { prototype: { polluted: 'yes' } },
  'polluted',
  ['polluted'],
);

/** Fully random fields: most bodies are rejected. */
const randomEntries = fc
  .record(
    {
      email: emailValue,
      firstName: fc.oneof(
        { weight: 2, arbitrary: fc.constantFrom('Anna', 'Jürgen', 'Zoë-Marie', "O'Brien", '') },
        { weight: 5, arbitrary: fieldString },
        { weight: 1, arbitrary: wrongType },
      ),
      privacy: checkboxValue,
      giveaway: checkboxValue,
      newsletter: checkboxValue,
      website: fc.oneof(
        { weight: 6, arbitrary: fc.constant('') },
        { weight: 1, arbitrary: fieldString },
        { weight: 1, arbitrary: wrongType },
      ),
      referrer: fieldString,
      utm_source: fieldString,
      utm_campaign: fc.oneof(fieldString, wrongType),
    },
    { requiredKeys: [] },
  )
  .chain((fields) =>
    fc
      .array(
        fc.tuple(
          fc.oneof(fc.constantFrom(...POLLUTING_KEYS), fc.string({ maxLength: 12 })),
          fc.oneof(pollutingValue, fieldString, wrongType),
        ),
        { maxLength: 3 },
      )
      .chain((extra) =>
        fc
          .shuffledSubarray([...Object.entries(fields), ...extra], { minLength: 0 })
          .map((entries) => entries as [string, unknown][]),
      ),
  );

/**
 * A JSON object text from entries, written by hand so `__proto__` becomes an own key of
 * the parsed object exactly as an attacker would send it.
 */
export function jsonObjectText(entries: [string, unknown][]): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`;
}

/** Bytes that are not valid UTF-8 (overlong forms, lone continuation bytes, surrogates). */
export const invalidUtf8 = fc
  .tuple(
    fc.uint8Array({ maxLength: 40 }),
    fc.constantFrom(
      [0xff],
      [0xfe, 0xff],
      [0xc0, 0x80],
      [0xe0, 0x80, 0x80],
      [0xed, 0xa0, 0x80],
      [0x80],
      [0xf8, 0x88, 0x80, 0x80, 0x80],
    ),
    fc.uint8Array({ maxLength: 40 }),
  )
  .map(([a, bad, b]) => new Uint8Array([...a, ...bad, ...b]));

/** Content types the endpoint must refuse with 415. */
export const wrongContentType = fc.oneof(
  fc.constantFrom(
    'text/plain',
    'text/html',
    'multipart/form-data; boundary=x',
    'application/xml',
    'application/json-patch+json',
    'application/json, text/plain',
    'application/javascript',
    'json',
    '*/*',
  ),
  fc.string({ unit: 'grapheme-ascii', maxLength: 30 }),
);

/** Content types the endpoint accepts, with every kind of charset parameter. */
export const jsonContentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'Application/Json ; charset=UTF-8',
  'application/json; charset=iso-8859-1',
  'application/json; charset=utf-16',
  'application/json; charset="bogus\\"; x=1',
);
export const formContentType = fc.constantFrom(
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=UTF-8',
  'application/x-www-form-urlencoded; charset=windows-1252',
  'APPLICATION/X-WWW-FORM-URLENCODED',
);

// --- checks on rendered HTML ---

const TAG = /<([a-zA-Z][\w:-]*)((?:\s+[^\s=>"'/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)\s*\/?>/g;
const ATTR = /([^\s=>"'/]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?/g;
const SCRIPT = /<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi;

/**
 * Where a marker was reflected unsafely into `html`: as a tag or attribute name, in an
 * attribute other than a form field's `value`, or inside a script that is not a valid
 * JSON data block. An empty list means every reflection is inert.
 */
export function unsafeReflections(
  html: string,
  markers: string[],
  /** Which quoted attributes may carry a marker; by default only a form field's `value`. */
  allowAttribute: (name: string, value: string) => boolean = (name) => name === 'value',
): string[] {
  const found: string[] = [];
  if (!markers.length) return found;
  const hasMarker = (s: string) => markers.find((m) => s.includes(m));
  for (const tag of html.matchAll(TAG)) {
    const [, name, attrs] = tag;
    if (hasMarker(name)) found.push(`tag name: ${tag[0].slice(0, 120)}`);
    for (const attr of attrs.matchAll(ATTR)) {
      const [, attrName, rawValue = ''] = attr;
      if (hasMarker(attrName)) found.push(`attribute name: ${tag[0].slice(0, 160)}`);
      if (
        hasMarker(rawValue) &&
        !(rawValue.startsWith('"') && allowAttribute(attrName.toLowerCase(), rawValue))
      )
        found.push(`attribute ${attrName}: ${tag[0].slice(0, 160)}`);
    }
  }
  // Quoted attribute values are inert (their quotes are escaped); look at the rest.
  // (`type` is kept: it tells a JSON data block from a script.)
  const outsideAttributes = html.replace(TAG, (t) =>
    t.replace(/(\s[^\s=>"'/]+\s*=\s*)"[^"]*"/g, (all, name: string) =>
      /^\s*type\s*=\s*$/i.test(name) ? all : `${name}""`,
    ),
  );
  for (const script of outsideAttributes.matchAll(SCRIPT)) {
    const [, attrs, body] = script;
    if (!hasMarker(body)) continue;
    const isData = /type="application\/(ld\+)?json"/.test(attrs);
    let parses = false;
    try {
      JSON.parse(body);
      parses = true;
    } catch {
      /* not JSON */
    }
    if (!isData || !parses || body.includes('<')) found.push(`script: ${body.slice(0, 160)}`);
  }
  // Markup from an injection showing up raw outside a quoted attribute (e.g. in text).
  for (const m of markers) {
    for (const raw of [
      `<script>alert('${m}')`,
      `<img src=x onerror=alert('${m}')`,
      `<svg/onload=alert('${m}')`,
    ]) {
      if (outsideAttributes.includes(raw)) found.push(`raw markup: ${raw}`);
    }
  }
  return found;
}

/** Markers (`xss<N>q`) contained in a value, at any depth. */
export function markersIn(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') {
    for (const m of value.matchAll(/xss\d+q/g)) out.push(m[0]);
  } else if (Array.isArray(value)) {
    for (const v of value) markersIn(v, out);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      markersIn(k, out);
      markersIn(v, out);
    }
  }
  return out;
}

/** A valid registration with up to two fields swapped for hostile values. */
const mostlyValidEntries = fc
  .tuple(
    freshEmail,
    fc.constantFrom('Anna', 'Jürgen', 'Zoë-Marie', "O'Brien", 'José', ''),
    fc.constantFrom<unknown>(true, 'on', 'true'),
    fc.constantFrom<unknown>(true, false, 'on', ''),
    fc.constantFrom<unknown>(true, false, 'on', ''),
    fc.array(
      fc.tuple(
        fc.constantFrom(
          'email',
          'firstName',
          'privacy',
          'giveaway',
          'referrer',
          'utm_source',
          'utm_term',
          ...POLLUTING_KEYS,
        ),
        fc.oneof(injection, nastyString, hugeString, wrongType, pollutingValue),
      ),
      { maxLength: 2 },
    ),
  )
  .map(([email, firstName, privacy, giveaway, newsletter, hostile]) => {
    const entries: [string, unknown][] = [
      ['email', email],
      ['firstName', firstName],
      ['privacy', privacy],
      ['giveaway', giveaway],
      ['newsletter', newsletter],
      ['website', ''],
    ];
    for (const [k, v] of hostile) {
      const at = entries.findIndex(([name]) => name === k);
      if (at >= 0) entries[at] = [k, v];
      else entries.push([k, v]);
    }
    return entries;
  });

/** Key/value pairs of a JSON object, in order; keys may repeat and include `__proto__`. */
export const registrationEntries = fc.oneof(randomEntries, mostlyValidEntries);

const URL_ATTRIBUTES = new Set([
  'href',
  'src',
  'action',
  'formaction',
  'srcset',
  'poster',
  'data',
  'xlink:href',
]);

/**
 * For text the marketing team writes (config): any quoted attribute may carry it (alt,
 * title, content, aria-label…), but never an event handler, a style, or a URL attribute
 * whose value starts with a script scheme.
 */
export function contentAttributeAllowed(name: string, quotedValue: string): boolean {
  if (name.startsWith('on') || name === 'style') return false;
  const value = quotedValue
    .slice(1, -1)
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCharCode(Number(d)))
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
    .replace(/&colon;/gi, ':')
    .replace(/[\u0000-\u0020]/g, '');
  return !(URL_ATTRIBUTES.has(name) && /^(javascript|vbscript|data):/i.test(value));
}
