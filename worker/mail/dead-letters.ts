/**
 * Dead letters in KV, so ops can see and retry them in the admin: one key per failed job,
 * `dlq:<kind>:<lead id>` for a mail (so a job that fails again overwrites its own entry
 * instead of piling up), `dlq:<type>:<message id>` otherwise. The summary sits in the
 * key's metadata, so listing is one `list` call; the job itself is the value.
 */
import * as v from 'valibot';
import { MailJob } from './jobs';
import { redact } from '../log';

export const DLQ_PREFIX = 'dlq:';
/** Dead letters are kept for 30 days. */
const DLQ_TTL_S = 30 * 86_400;

export interface DeadLetterSummary {
  kind: string;
  reason: string;
  attempts: number;
  failedAt: string;
}

export interface DeadLetterEntry extends DeadLetterSummary {
  key: string;
  body: unknown;
}

/** The KV key for a failed job (or for whatever the message held). */
export function deadLetterKey(body: unknown, messageId: string): string {
  const mail = v.safeParse(MailJob, body);
  if (mail.success) return `${DLQ_PREFIX}${mail.output.kind}:${mail.output.leadId}`;
  const type =
    body && typeof body === 'object' && (body as { type?: unknown }).type === 'fanout' ? 'fanout' : 'invalid';
  return `${DLQ_PREFIX}${type}:${messageId.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 64) || 'x'}`;
}

export async function storeDeadLetter(
  kv: KVNamespace,
  key: string,
  body: unknown,
  summary: DeadLetterSummary,
): Promise<void> {
  const metadata: DeadLetterSummary = {
    kind: summary.kind.slice(0, 40),
    // An upstream error may quote the recipient ("email to … not allowed"); the entry names
    // the lead by id, so the reason needs no address.
    reason: redact(summary.reason).slice(0, 300),
    attempts: summary.attempts,
    failedAt: summary.failedAt,
  };
  await kv.put(key, JSON.stringify({ body }), { metadata, expirationTtl: DLQ_TTL_S });
}

/** Up to 1000 entries, summaries only (one `list`). */
export async function listDeadLetters(
  kv: KVNamespace,
  cursor?: string,
): Promise<{ entries: (DeadLetterSummary & { key: string })[]; cursor?: string }> {
  const page = await kv.list<DeadLetterSummary>({
    prefix: DLQ_PREFIX,
    limit: 1000,
    ...(cursor ? { cursor } : {}),
  });
  return {
    entries: page.keys.map((k) => ({
      key: k.name,
      kind: k.metadata?.kind ?? 'unbekannt',
      reason: k.metadata?.reason ?? '',
      attempts: k.metadata?.attempts ?? 0,
      failedAt: k.metadata?.failedAt ?? '',
    })),
    ...(page.list_complete ? {} : { cursor: page.cursor }),
  };
}

export async function getDeadLetter(kv: KVNamespace, key: string): Promise<DeadLetterEntry | null> {
  const { value, metadata } = await kv.getWithMetadata<{ body: unknown }, DeadLetterSummary>(key, 'json');
  if (!value) return null;
  return {
    key,
    body: value.body,
    kind: metadata?.kind ?? 'unbekannt',
    reason: metadata?.reason ?? '',
    attempts: metadata?.attempts ?? 0,
    failedAt: metadata?.failedAt ?? '',
  };
}

export async function deleteDeadLetter(kv: KVNamespace, key: string): Promise<void> {
  await kv.delete(key);
}
