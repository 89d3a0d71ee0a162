/**
 * The local development outbox: with DEV_OUTBOX="1" (set only in .dev.vars), every mail
 * the consumer sends is also kept in KV under `devoutbox:`, newest first, so a developer
 * can click through the double opt-in without a mail account.
 *
 * Why KV and not workerd's files: locally the `send_email` binding writes each mail to a
 * temp file on the host and logs the path, but a worker has no file system access to the
 * host, so it cannot list them (docs/decisions/043-dev-outbox.md).
 */
export const OUTBOX_PREFIX = 'devoutbox:';
/** Dev mails vanish by themselves after a day. */
const OUTBOX_TTL_S = 86_400;
const MAX_KEY_MS = 9_999_999_999_999;

export interface OutboxMail {
  to: string;
  subject: string;
  text: string;
  html: string;
  sentAt: string;
  kind: string;
  headers: Record<string, string>;
  attachments: string[];
}

/**
 * True only when the development outbox is switched on, and never in production
 * (`ENVIRONMENT` from wrangler.toml): a deployment that inherited `DEV_OUTBOX` by mistake
 * must not keep every mail (addresses, names, personal links) in KV.
 */
export function outboxEnabled(env: { DEV_OUTBOX?: string; ENVIRONMENT?: string }): boolean {
  return env.DEV_OUTBOX === '1' && env.ENVIRONMENT !== 'production';
}

export async function recordOutbox(kv: KVNamespace, mail: OutboxMail): Promise<void> {
  const inverted = String(MAX_KEY_MS - Date.parse(mail.sentAt)).padStart(13, '0');
  const rand = [...crypto.getRandomValues(new Uint8Array(4))]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('');
  await kv.put(`${OUTBOX_PREFIX}${inverted}:${rand}`, JSON.stringify(mail), { expirationTtl: OUTBOX_TTL_S });
}

/** Newest first, at most `limit` (≤ 100: one bulk get). */
export async function listOutbox(kv: KVNamespace, limit = 50): Promise<OutboxMail[]> {
  const page = await kv.list({ prefix: OUTBOX_PREFIX, limit: Math.min(Math.max(limit, 1), 100) });
  if (!page.keys.length) return [];
  const values = await kv.get<OutboxMail>(
    page.keys.map((k) => k.name),
    'json',
  );
  return page.keys.flatMap((k) => {
    const m = values.get(k.name);
    return m ? [m] : [];
  });
}
