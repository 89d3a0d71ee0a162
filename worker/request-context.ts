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
