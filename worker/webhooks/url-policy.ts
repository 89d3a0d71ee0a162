/**
 * Which webhook URLs the worker will call (server-side request forgery, docs/decisions/
 * 082-webhook-url-policy.md). Checked when ops save an endpoint and again before every
 * delivery, so a rule added later also covers endpoints saved earlier.
 *
 * Refused: anything but `https:` (locally also `http:` for the machine itself); a user name
 * or password in the URL; IP literals in private, loopback, link-local (cloud metadata at
 * 169.254.169.254 included), shared, documentation, multicast or reserved ranges, in any
 * spelling the URL parser turns into them (decimal, hex, octal, short IPv4; IPv4-mapped,
 * -compatible, NAT64 and 6to4 IPv6); names that are local by definition (`localhost`,
 * `*.local`, `*.internal`, single labels …) and public wildcard names that resolve to the IP
 * written in them (`10.0.0.1.nip.io`) or always to loopback (`lvh.me`).
 *
 * Not checked: what an ordinary public name resolves to. The worker cannot resolve names
 * itself, and a lookup at save time would not hold (DNS rebinding); deployed, the request
 * leaves from Cloudflare's network, which has no route into ours. Redirects are never
 * followed, so a receiver cannot bounce a delivery to an internal address either.
 */

export const URL_MAX_LENGTH = 2000;

export const URL_MESSAGES = {
  invalid: 'Bitte geben Sie eine vollständige Adresse ein, z. B. https://hooks.example.com/webinar.',
  tooLong: `Die Adresse ist zu lang (höchstens ${URL_MAX_LENGTH} Zeichen).`,
  https: 'Die Adresse muss mit https:// beginnen.',
  httpsLocal:
    'Die Adresse muss mit https:// beginnen. Lokal ist http:// nur für 127.0.0.1 und localhost erlaubt.',
  userinfo:
    'Die Adresse darf keinen Benutzernamen und kein Passwort enthalten (…@). Der Empfänger prüft stattdessen die Signatur.',
  privateIp:
    'Diese Adresse zeigt in ein privates, lokales oder reserviertes Netz (z. B. 10.x.x.x, 192.168.x.x, 127.0.0.1, ::1 oder 169.254.169.254) und ist nicht erlaubt.',
  localName:
    'Dieser Name gehört zu einem lokalen oder internen Netz (z. B. localhost, *.local, *.internal oder ein Name ohne Punkt) und ist nicht erlaubt.',
} as const;

export type UrlVerdict = { ok: true; url: string } | { ok: false; message: string };

/** Names that only exist inside a network, by definition or by common use. */
const LOCAL_SUFFIXES = [
  'localhost',
  'local',
  'internal',
  'intranet',
  'lan',
  'home',
  'corp',
  'localdomain',
  'arpa',
];
/** Public names that always resolve to loopback. */
const LOOPBACK_DOMAINS = ['localtest.me', 'lvh.me', 'vcap.me', 'lacolhost.com'];
/** Public wildcard DNS that answers with the IPv4 address written in the name. */
const ECHO_DOMAINS = ['nip.io', 'sslip.io', 'xip.io', 'traefik.me'];

const within = (host: string, domain: string) => host === domain || host.endsWith(`.${domain}`);

function ipv4Octets(host: string): number[] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return null;
  const o = m.slice(1).map(Number);
  return o.every((n) => n <= 255) ? o : null;
}

/** Whether an IPv4 address is anything but an ordinary public unicast address. */
export function isBlockedIpv4([a, b, c]: number[]): boolean {
  return (
    a === 0 || // "this network"
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) || // carrier-grade NAT
    (a === 169 && b === 254) || // link-local, cloud metadata
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 0 && (c === 0 || c === 2)) || // IETF protocol assignments, TEST-NET-1
    (a === 192 && b === 88 && c === 99) || // 6to4 relay anycast
    (a === 192 && b === 168) ||
    (a === 198 && (b === 18 || b === 19)) || // benchmarking
    (a === 198 && b === 51 && c === 100) ||
    (a === 203 && b === 0 && c === 113) ||
    a >= 224 // multicast, reserved, broadcast
  );
}

/** Eight 16-bit groups of an IPv6 literal as the URL parser writes it (no zone, hex only). */
function ipv6Groups(literal: string): number[] | null {
  let text = literal;
  // A dotted tail survives only in hand-built input; the URL parser always writes hex.
  const dotted = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (dotted) {
    const o = ipv4Octets(dotted[1]);
    if (!o) return null;
    text =
      text.slice(0, -dotted[1].length) +
      `${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (s: string) =>
    s ? s.split(':').map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16) : NaN)) : [];
  const head = parse(halves[0]);
  const tail = halves.length === 2 ? parse(halves[1]) : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...Array<number>(Math.max(fill, 0)).fill(0), ...tail];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g)) ? groups : null;
}

const v4Of = (hi: number, lo: number) => [hi >> 8, hi & 255, lo >> 8, lo & 255];

/** Whether an IPv6 address is anything but an ordinary public unicast address. */
export function isBlockedIpv6(g: number[]): boolean {
  const zeroTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroTo(5) && g[5] === 0xffff) return isBlockedIpv4(v4Of(g[6], g[7])); // IPv4-mapped
  if (zeroTo(6)) return true; // unspecified, loopback, IPv4-compatible (deprecated)
  if (g[0] === 0x64 && g[1] === 0xff9b) return g[2] !== 0 || isBlockedIpv4(v4Of(g[6], g[7])); // NAT64
  if (g[0] === 0x2002) return isBlockedIpv4(v4Of(g[1], g[2])); // 6to4
  if (g[0] === 0x100 && zeroTo(4)) return true; // discard-only
  if (
    g[0] === 0x2001 &&
    (g[1] === 0 || g[1] === 0xdb8 || (g[1] & 0xfff0) === 0x10 || (g[1] & 0xfff0) === 0x20)
  )
    return true; // Teredo, documentation, ORCHID
  if ((g[0] & 0xfe00) === 0xfc00) return true; // unique local
  if ((g[0] & 0xffc0) === 0xfe80 || (g[0] & 0xffc0) === 0xfec0) return true; // link-local, site-local
  if ((g[0] & 0xff00) === 0xff00) return true; // multicast
  return false;
}

/** The IPv4 address a wildcard-DNS name echoes (`a.10.0.0.1.nip.io`, `10-0-0-1.sslip.io`), if any. */
function echoedIpv4(host: string, domain: string): number[] | null {
  const labels = host.slice(0, -domain.length - 1).split('.');
  for (let i = 0; i + 4 <= labels.length; i++) {
    const o = ipv4Octets(labels.slice(i, i + 4).join('.'));
    if (o) return o;
  }
  for (const label of labels) {
    const dashed = /(?:^|-)(\d{1,3}-\d{1,3}-\d{1,3}-\d{1,3})$/.exec(label);
    const o = dashed && ipv4Octets(dashed[1].replace(/-/g, '.'));
    if (o) return o;
    // nip.io also answers for eight hex digits: 0a000001.nip.io is 10.0.0.1.
    const hex = /(?:^|-)([0-9a-f]{8})$/.exec(label);
    if (hex) return v4Of(parseInt(hex[1].slice(0, 4), 16), parseInt(hex[1].slice(4), 16));
  }
  return null;
}

function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  const v4 = ipv4Octets(host);
  if (v4) return v4[0] === 127;
  return host === '[::1]';
}

/**
 * Decides whether a webhook may be sent to `raw`. `allowLoopback` (local development only)
 * lets `http(s)://127.0.0.1`, `localhost` and `[::1]` through, for a receiver on the same
 * machine; every other private address stays refused there too.
 */
export function checkWebhookUrl(raw: string, opts: { allowLoopback: boolean }): UrlVerdict {
  const text = raw.trim();
  if (text.length > URL_MAX_LENGTH) return { ok: false, message: URL_MESSAGES.tooLong };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, message: URL_MESSAGES.invalid };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return { ok: false, message: URL_MESSAGES.invalid };
  if (!url.hostname) return { ok: false, message: URL_MESSAGES.invalid };
  if (url.username || url.password || /^[a-z]+:\/\/[^/?#]*@/i.test(text))
    return { ok: false, message: URL_MESSAGES.userinfo };
  const host = url.hostname.replace(/\.$/, '').toLowerCase();
  const loopbackAllowed = opts.allowLoopback && isLoopbackHost(host);
  if (url.protocol === 'http:' && !loopbackAllowed)
    return { ok: false, message: opts.allowLoopback ? URL_MESSAGES.httpsLocal : URL_MESSAGES.https };
  if (loopbackAllowed) return { ok: true, url: url.href };

  if (host.startsWith('[')) {
    const groups = ipv6Groups(host.slice(1, -1));
    if (!groups || isBlockedIpv6(groups)) return { ok: false, message: URL_MESSAGES.privateIp };
    return { ok: true, url: url.href };
  }
  const v4 = ipv4Octets(host);
  if (v4)
    return isBlockedIpv4(v4) ? { ok: false, message: URL_MESSAGES.privateIp } : { ok: true, url: url.href };
  // Anything else that ends in a number is no public name (and no address the parser knew).
  if (/\.\d+$/.test(host) || /^\d+$/.test(host)) return { ok: false, message: URL_MESSAGES.invalid };

  if (!host.includes('.') || LOCAL_SUFFIXES.some((s) => within(host, s)))
    return { ok: false, message: URL_MESSAGES.localName };
  if (LOOPBACK_DOMAINS.some((d) => within(host, d))) return { ok: false, message: URL_MESSAGES.privateIp };
  for (const d of ECHO_DOMAINS) {
    if (!within(host, d) || host === d) continue;
    const echoed = echoedIpv4(host, d);
    if (echoed && isBlockedIpv4(echoed)) return { ok: false, message: URL_MESSAGES.privateIp };
  }
  return { ok: true, url: url.href };
}
