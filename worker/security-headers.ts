/**
 * Security headers for every response. Scripts: only our own files plus the one inline
 * hydration bootstrap, allowed by its sha256 (no `unsafe-inline`, no `unsafe-eval`).
 */
import type { Context, MiddlewareHandler } from 'hono';
import { generateHydrationScript } from 'solid-js/web';

/** The inline bootstrap Solid needs before hydration, without its <script> tags. */
export const HYDRATION_SCRIPT_TAG = generateHydrationScript();
const HYDRATION_SCRIPT_BODY = HYDRATION_SCRIPT_TAG.replace(/^<script[^>]*>/, '').replace(
  /<\/script>[\s\S]*$/,
  '',
);

let hydrationHash: Promise<string> | undefined;

export function hydrationScriptHash(): Promise<string> {
  hydrationHash ??= crypto.subtle
    .digest('SHA-256', new TextEncoder().encode(HYDRATION_SCRIPT_BODY))
    .then((buf) => `'sha256-${btoa(String.fromCharCode(...new Uint8Array(buf)))}'`);
  return hydrationHash;
}

/** Context key set by `allowSameOriginFraming`. */
const FRAMING_KEY = 'securityHeaders.frameSelf';

/**
 * For a response our own admin shows in an iframe (the editor's preview): `frame-ancestors
 * 'self'` and `X-Frame-Options: SAMEORIGIN` instead of denying every frame.
 */
export function allowSameOriginFraming(c: Context) {
  c.set(FRAMING_KEY as never, true as never);
}

const extraScriptHashes = new Set<string>();

/** Allows one more inline script of ours (e.g. the island loader) by its sha256. */
export async function allowInlineScript(body: string): Promise<void> {
  const buf = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(body));
  extraScriptHashes.add(`'sha256-${btoa(String.fromCharCode(...new Uint8Array(buf)))}'`);
}

export async function contentSecurityPolicy(dev: boolean, frameSelf = false): Promise<string> {
  const scriptSrc = ["'self'", await hydrationScriptHash(), ...extraScriptHashes];
  return [
    "default-src 'self'",
    `script-src ${scriptSrc.join(' ')}`,
    // Inline <style> carries the critical CSS; no script can be injected through it.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    dev ? "connect-src 'self' ws: wss:" : "connect-src 'self'",
    "form-action 'self'",
    frameSelf ? "frame-ancestors 'self'" : "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
    ...(dev ? [] : ['upgrade-insecure-requests']),
  ].join('; ');
}

export function securityHeaders(): MiddlewareHandler<{ Bindings: Env }> {
  return async (c, next) => {
    await next();
    const dev = c.env.ENVIRONMENT === 'development';
    const h = c.res.headers;
    // Responses from env.ASSETS can be immutable; copy them so the headers can be set.
    try {
      h.set('X-Content-Type-Options', 'nosniff');
    } catch {
      c.res = new Response(c.res.body, c.res);
    }
    const headers = c.res.headers;
    const frameSelf = c.get(FRAMING_KEY as never) === true;
    headers.set('Content-Security-Policy', await contentSecurityPolicy(dev, frameSelf));
    headers.set('Strict-Transport-Security', 'max-age=63072000; includeSubDomains; preload');
    headers.set('X-Content-Type-Options', 'nosniff');
    headers.set('X-Frame-Options', frameSelf ? 'SAMEORIGIN' : 'DENY');
    headers.set('Referrer-Policy', 'strict-origin-when-cross-origin');
    headers.set(
      'Permissions-Policy',
      'camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=(), browsing-topics=()',
    );
    headers.set('Cross-Origin-Opener-Policy', 'same-origin');
    headers.set('Cross-Origin-Resource-Policy', 'same-origin');
  };
}
