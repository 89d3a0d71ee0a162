/**
 * One HTTP attempt: signed per the Standard Webhooks specification with the
 * `standardwebhooks` package, cut off after 10 s, redirects not followed, and of the answer
 * only the status, the time taken and a short redacted excerpt kept.
 */
import { Webhook } from 'standardwebhooks';
import { errorMessage, redact } from '../log';

/** A slow receiver is cut off after this (the whole attempt, body included). */
export const DELIVERY_TIMEOUT_MS = 10_000;
/** At most this much of a receiver's answer is kept, after redaction. */
export const EXCERPT_MAX = 200;
/** Bytes of the answer read at most (the rest is never looked at). */
const EXCERPT_READ_BYTES = 2048;
export const USER_AGENT = 'webinar-landing-webhooks/1 (+Standard Webhooks)';

export interface Attempt {
  /** HTTP status, or null when there was no answer. */
  status: number | null;
  latencyMs: number;
  excerpt: string | null;
  /** German reason when the attempt did not succeed. */
  error: string | null;
  /** Seconds from `Retry-After`, when the receiver sent one. */
  retryAfterS: number | null;
}

/** The `webhook-signature` header: one `v1,…` per secret, space-delimited (rotation). */
export function signatureHeader(secrets: string[], id: string, at: Date, body: string): string {
  return secrets.map((s) => new Webhook(s).sign(id, at, body)).join(' ');
}

/** The first bytes of a body as text, addresses and IPs removed, cut to EXCERPT_MAX. */
export async function excerptOf(body: ReadableStream<Uint8Array> | null): Promise<string | null> {
  if (!body) return null;
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < EXCERPT_READ_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  const text = redact(new TextDecoder().decode(bytes.slice(0, EXCERPT_READ_BYTES)))
    .replace(/\s+/g, ' ')
    .trim();
  return text ? text.slice(0, EXCERPT_MAX) : null;
}

function retryAfterSeconds(value: string | null, nowMs: number): number | null {
  if (!value) return null;
  if (/^\d{1,7}$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.round((at - nowMs) / 1000));
}

/** What went wrong, in words ops understand. */
export function describeStatus(status: number): string {
  if (status >= 300 && status < 400)
    return `Der Empfänger leitet um (${status}); Weiterleitungen werden nicht verfolgt. Bitte die Ziel-URL eintragen.`;
  if (status === 410)
    return 'Der Empfänger hat mit 410 Gone geantwortet: Er möchte keine Webhooks mehr erhalten.';
  if (status === 429) return 'Der Empfänger drosselt (429 Too Many Requests).';
  return `Der Empfänger hat mit Status ${status} geantwortet.`;
}

/**
 * One request with the delivery rules: cut off after `timeoutMs`, no redirects followed,
 * only status, time and a redacted excerpt kept. Never throws: a timeout or network error
 * is an attempt without a status. `ok` decides which statuses count as success.
 */
export async function attemptFetch(
  url: string,
  init: RequestInit,
  opts: { timeoutMs?: number; ok?: (status: number) => boolean } = {},
): Promise<Attempt> {
  const started = Date.now();
  const timeoutMs = opts.timeoutMs ?? DELIVERY_TIMEOUT_MS;
  const signal = AbortSignal.timeout(timeoutMs);
  const isOk = opts.ok ?? ((s: number) => s >= 200 && s < 300);
  try {
    const res = await fetch(url, { ...init, redirect: 'manual', signal });
    const excerpt = await excerptOf(res.body).catch(() => null);
    return {
      status: res.status,
      latencyMs: Date.now() - started,
      excerpt,
      error: isOk(res.status) ? null : describeStatus(res.status),
      retryAfterS: retryAfterSeconds(res.headers.get('retry-after'), Date.now()),
    };
  } catch (error) {
    return {
      status: null,
      latencyMs: Date.now() - started,
      excerpt: null,
      error: signal.aborted
        ? `Keine Antwort innerhalb von ${Math.round(timeoutMs / 1000)} s: Die Verbindung wurde abgebrochen.`
        : `Verbindung fehlgeschlagen: ${redact(errorMessage(error)).slice(0, 160)}`,
      retryAfterS: null,
    };
  }
}

/** POSTs `body` to a webhook endpoint, signed with every secret (see attemptFetch). */
export function postSigned(
  url: string,
  body: string,
  sign: { id: string; secrets: string[] },
  opts: { now?: Date; timeoutMs?: number } = {},
): Promise<Attempt> {
  const at = opts.now ?? new Date();
  return attemptFetch(
    url,
    {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        'webhook-id': sign.id,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': signatureHeader(sign.secrets, sign.id, at, body),
      },
      body,
    },
    { timeoutMs: opts.timeoutMs },
  );
}
