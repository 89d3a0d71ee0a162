/** Facts about the request that the stores need, read once at the border. */
import type { Context } from 'hono';

/**
 * The client IP: `CF-Connecting-IP` is set by Cloudflare's edge (and cannot be forged
 * there); locally workerd passes it through, and without it we use a fixed marker.
 */
export function clientIp(c: Context): string {
  const ip = c.req.header('cf-connecting-ip')?.trim();
  return ip && ip.length <= 45 && /^[0-9a-fA-F:.]+$/.test(ip) ? ip : 'unknown';
}

/** The eight 16-bit groups of an IPv6 address (`::` expanded, an IPv4 tail converted), or null. */
function ipv6Groups(ip: string): number[] | null {
  let text = ip.toLowerCase();
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const b = v4.slice(1).map(Number);
    if (b.some((x) => x > 255)) return null;
    text = `${text.slice(0, v4.index)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const part = (s: string) => (s ? s.split(':') : []);
  const head = part(halves[0]);
  const tail = halves.length === 2 ? part(halves[1]) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (groups.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return null;
  return groups.map((g) => parseInt(g, 16));
}

/**
 * The key a client is rate-limited by: an IPv4 address as it is, an IPv6 address by its
 * /64 (one subscriber's network: rotating through it must not reset the limit).
 */
export function clientKey(ip: string): string {
  if (!ip.includes(':')) return ip;
  const groups = ipv6Groups(ip);
  if (!groups) return ip;
  // An IPv4-mapped address (::ffff:a.b.c.d) is that IPv4 client.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff)
    return [groups[6] >> 8, groups[6] & 255, groups[7] >> 8, groups[7] & 255].join('.');
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

export function userAgent(c: Context): string {
  return (c.req.header('user-agent') ?? '').slice(0, 400);
}

/** Same-origin pathname of the Referer header (the page the form was sent from). */
export function landingPath(c: Context): { path?: string; search?: URLSearchParams } {
  const ref = c.req.header('referer');
  if (!ref) return {};
  try {
    const url = new URL(ref);
    if (url.host !== new URL(c.req.url).host) return {};
    return { path: url.pathname.slice(0, 200), search: url.searchParams };
  } catch {
    return {};
  }
}

/**
 * Where links in mails caused by this request point. Deployed: always the configured
 * `seo.siteUrl` (undefined here), so a request through another hostname cannot aim a
 * confirmation link elsewhere. Locally: the dev server's own origin, so links work.
 */
export function mailLinkOrigin(c: Context<{ Bindings: Env }>): string | undefined {
  return c.env.ENVIRONMENT === 'development' ? new URL(c.req.url).origin : undefined;
}
