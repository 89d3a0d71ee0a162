/** Helpers for the mail tests: leads in a given state, fake Email and Queue bindings, batches. */
import { createExecutionContext, createMessageBatch, env, getQueueResult } from 'cloudflare:test';
import { vi } from 'vitest';
import worker from '../../worker/index';
import { leadId } from '../../worker/store/lead-keys';
import { confirmLead, registerLead, unsubscribeLead, type LeadStatus } from '../../worker/store/lead-store';
import { uniqueEmail } from './helpers';

export interface SentMail {
  from: unknown;
  to: string;
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
  attachments?: { filename: string; type: string; content: string; disposition: string }[];
}

/** Consent texts as a registration stores them (values recognisable in assertions). */
export const TEST_TEXTS = {
  version: 'test-1',
  privacy: 'Datenschutz-Text (Test)',
  giveaway: 'Gewinnspiel-Text (Test)',
  newsletter: 'Newsletter-Text (Test)',
  configVersion: null,
};

/** A lead stored through the real store functions, in the wanted status. */
export async function makeLead(
  status: LeadStatus = 'confirmed',
  tag = 'mail',
  consents: { giveaway?: boolean; newsletter?: boolean } = {},
) {
  const email = uniqueEmail(tag);
  const now = new Date(Date.now() - 5000);
  await registerLead(
    env.DB,
    env.LEAD_KEY_SECRET,
    {
      email,
      firstName: '<b>Spam</b> https://spam.example',
      privacy: true,
      giveaway: consents.giveaway ?? false,
      newsletter: consents.newsletter ?? false,
      website: '',
      referrer: '',
    },
    { now, phase: 'before', texts: TEST_TEXTS, ip: '192.0.2.1', userAgent: 'test-agent', giveawayOpen: true },
  );
  const id = await leadId(email, env.LEAD_KEY_SECRET);
  if (status !== 'pending')
    await confirmLead(
      env.DB,
      id,
      { atMs: now.getTime() + 1000, ip: '192.0.2.2', userAgent: 'confirm-agent' },
      now.getTime(),
    );
  if (status === 'unsubscribed') await unsubscribeLead(env.DB, id, now.getTime() + 2000);
  return { id, email };
}

/** Whether a mail of this kind went out to the lead (its send is marked in D1). */
export async function sentCount(leadId: string, kind: string): Promise<number> {
  const row = await env.DB.prepare(
    'SELECT COUNT(*) AS n FROM mail_sends WHERE lead_id = ?1 AND kind = ?2 AND sent_at IS NOT NULL',
  )
    .bind(leadId, kind)
    .first<{ n: number }>();
  return row!.n;
}

/** An EMAIL binding that records what it is asked to send; `fail` makes every send throw. */
export function fakeEmail(fail = false) {
  const sent: SentMail[] = [];
  const send = vi.fn(async (m: SentMail) => {
    if (fail) throw new Error('E_DELIVERY_FAILED: upstream refused');
    sent.push(m);
    return { messageId: `<${sent.length}@test>` };
  });
  return { binding: { send } as unknown as SendEmail, sent, send };
}

/** A Queue binding that records messages. */
export function fakeQueue() {
  const messages: unknown[] = [];
  const batches: number[] = [];
  const binding = {
    send: vi.fn(async (body: unknown) => {
      messages.push(body);
      return { metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } };
    }),
    sendBatch: vi.fn(async (items: Iterable<{ body: unknown }>) => {
      const list = [...items];
      batches.push(list.length);
      for (const m of list) messages.push(m.body);
      return { metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } } };
    }),
    metrics: vi.fn(),
  };
  return { binding: binding as unknown as Queue, messages, batches };
}

let msgCounter = 0;

/** Runs the worker's queue handler on one batch and returns the ack/retry result. */
export async function runQueue(
  queue: string,
  bodies: { body: unknown; attempts?: number; id?: string }[],
  overrides: Partial<Env> = {},
) {
  const batch = createMessageBatch(
    queue,
    bodies.map((b) => ({
      id: b.id ?? `msg-${Date.now()}-${++msgCounter}`,
      timestamp: new Date(),
      attempts: b.attempts ?? 1,
      body: b.body,
    })),
  );
  // getQueueResult reports which messages were retried but not their delay: record it here.
  const delays: (number | undefined)[] = [];
  for (const m of batch.messages) {
    const original = m.retry.bind(m);
    Object.defineProperty(m, 'retry', {
      value: (options?: QueueRetryOptions) => {
        delays.push(options?.delaySeconds);
        original(options);
      },
    });
  }
  const ctx = createExecutionContext();
  await worker.queue(batch, { ...env, ...overrides } as Env);
  const result = await getQueueResult(batch, ctx);
  return { batch, result, delays, ids: batch.messages.map((m) => m.id) };
}
