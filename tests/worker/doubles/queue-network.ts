/**
 * A Cloudflare Queues double that delivers like the network: at least once, with
 * duplicates, to several consumer invocations at the same time
 * (docs/decisions/061-real-network-doubles.md). Miniflare delivers each message once, to
 * one consumer at a time, which hides every race a consumer can have.
 *
 *   const q = new QueueNetwork({ clock: clock.now, duplicates: 1, concurrency: 4 });
 *   env.MAIL_QUEUE = q.producer;
 *   await q.drain(consumeMailBatch, ({ location }) => envAt(location));
 *
 * `producer` records what is sent (send/sendBatch). `deliver` runs one round: every
 * message that is due, plus its duplicates, shuffled into batches (copies of one message
 * never share a batch), handed to up to `concurrency` consumer invocations at once.
 * Settlement follows the runtime: an explicit `ack()`/`retry()` wins over the batch-wide
 * `ackAll()`/`retryAll()`, the first call wins, a handler that returns acknowledges the
 * rest and one that throws retries them; a retried message comes back with `attempts + 1`
 * after its delay, and is dead-lettered after `maxRetries` retries. A message older than
 * the retention period (default 4 days) is dropped undelivered, as the queue deletes it.
 */

export interface QueueNetworkOptions {
  name?: string;
  clock: () => number;
  /** Extra copies handed out per delivery (a number, or per message). */
  duplicates?: number | ((m: QueuedMessage) => number);
  /** Consumer invocations running at the same time. */
  concurrency?: number;
  maxBatchSize?: number;
  maxRetries?: number;
  /** Delay of a retry without `delaySeconds`. */
  retryDelaySeconds?: number;
  /** How long a message is kept from its first send; older ones are dropped undelivered. */
  retentionMs?: number;
  /** Locations the invocations run in, assigned in turn. */
  locations?: string[];
  /** Seed of the shuffle (deterministic runs). */
  seed?: number;
  /** Makes a send fail like the binding does when the queue refuses it. */
  sendFailure?: (body: unknown) => Error | undefined;
}

export interface QueuedMessage {
  id: string;
  body: unknown;
  sentAt: number;
  attempts: number;
  availableAt: number;
}

export interface Settled {
  id: string;
  body: unknown;
  attempts: number;
  invocation: number;
  location: string;
  delaySeconds?: number;
}

export interface InvocationInfo {
  index: number;
  location: string;
}

export type Consumer<E> = (batch: MessageBatch<unknown>, env: E) => Promise<void>;

/** Small seeded PRNG (mulberry32): shuffles repeat for a seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const METRICS = { metrics: { backlogCount: 0, backlogBytes: 0 } };

export class QueueNetwork {
  readonly name: string;
  readonly clock: () => number;
  readonly options: Required<Omit<QueueNetworkOptions, 'sendFailure' | 'seed' | 'name' | 'clock'>>;
  readonly sent: { id: string; body: unknown; at: number; delaySeconds?: number }[] = [];
  readonly acked: Settled[] = [];
  readonly retried: Settled[] = [];
  readonly deadLettered: Settled[] = [];
  /** Messages the queue deleted at the end of their retention, never acknowledged. */
  readonly expired: QueuedMessage[] = [];
  /** Consumer invocations so far, and the most that ever ran at once. */
  invocations = 0;
  maxActive = 0;

  private pending: QueuedMessage[] = [];
  private active = 0;
  private counter = 0;
  private readonly random: () => number;
  private readonly sendFailure?: (body: unknown) => Error | undefined;

  /** The producer binding (`env.MAIL_QUEUE`). */
  readonly producer: Queue;

  constructor(o: QueueNetworkOptions) {
    this.name = o.name ?? 'queue';
    this.clock = o.clock;
    this.options = {
      duplicates: o.duplicates ?? 1,
      concurrency: o.concurrency ?? 4,
      maxBatchSize: o.maxBatchSize ?? 50,
      maxRetries: o.maxRetries ?? 5,
      retryDelaySeconds: o.retryDelaySeconds ?? 0,
      retentionMs: o.retentionMs ?? 4 * 86_400_000,
      locations: o.locations ?? ['q1', 'q2', 'q3', 'q4'],
    };
    this.random = prng(o.seed ?? 1);
    this.sendFailure = o.sendFailure;
    const enqueue = (body: unknown, delaySeconds?: number) => {
      const failure = this.sendFailure?.(body);
      if (failure) throw failure;
      const at = this.clock();
      const id = `${this.name}-${(++this.counter).toString(36)}`;
      // Bodies are serialised on the way in: the consumer never shares an object with the producer.
      const copy = structuredClone(body);
      this.sent.push({ id, body: copy, at, ...(delaySeconds ? { delaySeconds } : {}) });
      this.pending.push({
        id,
        body: copy,
        sentAt: at,
        attempts: 1,
        availableAt: at + (delaySeconds ?? 0) * 1000,
      });
    };
    const producer = {
      send: async (body: unknown, opts?: QueueSendOptions) => {
        await Promise.resolve();
        enqueue(body, opts?.delaySeconds);
        return { metadata: METRICS };
      },
      sendBatch: async (messages: Iterable<MessageSendRequest>, opts?: QueueSendBatchOptions) => {
        const list = [...messages];
        if (list.length > 100)
          throw new Error('Queue sendBatch failed: batch contains more than 100 messages');
        await Promise.resolve();
        for (const m of list) enqueue(m.body, m.delaySeconds ?? opts?.delaySeconds);
        return { metadata: METRICS };
      },
      metrics: async () => ({ backlogCount: this.pending.length, backlogBytes: 0 }),
    };
    this.producer = producer as unknown as Queue;
  }

  /** Messages not yet acknowledged or dead-lettered (due or delayed). */
  get backlog(): readonly QueuedMessage[] {
    return this.pending;
  }

  private copiesOf(m: QueuedMessage): number {
    const d = this.options.duplicates;
    return 1 + Math.max(0, Math.floor(typeof d === 'function' ? d(m) : d));
  }

  /** Shuffled copies, dealt into batches so that two copies of one message never meet. */
  private batchesOf(due: QueuedMessage[]): QueuedMessage[][] {
    const copies = due.flatMap((m) => Array.from({ length: this.copiesOf(m) }, () => m));
    for (let i = copies.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [copies[i], copies[j]] = [copies[j], copies[i]];
    }
    const batches: QueuedMessage[][] = [];
    for (const c of copies) {
      const start = batches.length ? Math.floor(this.random() * batches.length) : 0;
      let placed = false;
      for (let k = 0; k < batches.length && !placed; k++) {
        const b = batches[(start + k) % batches.length];
        if (b.length < this.options.maxBatchSize && !b.some((x) => x.id === c.id)) {
          b.push(c);
          placed = true;
        }
      }
      if (!placed) batches.push([c]);
    }
    // Spread singletons: with room for more invocations, a batch of several becomes several.
    while (batches.length < this.options.concurrency && batches.some((b) => b.length > 1)) {
      const big = batches.reduce((a, b) => (b.length > a.length ? b : a));
      batches.push(big.splice(Math.floor(big.length / 2)));
    }
    return batches;
  }

  /**
   * One delivery round: every due message (with duplicates) to consumer invocations, at
   * most `concurrency` at a time. `envFor` builds each invocation's env (e.g. bindings of
   * its location). Resolves when every invocation has finished; returns what was settled.
   */
  async deliver<E>(consumer: Consumer<E>, envFor: (i: InvocationInfo) => E): Promise<{ batches: number }> {
    const now = this.clock();
    const kept = now - this.options.retentionMs;
    this.expired.push(...this.pending.filter((m) => m.sentAt <= kept));
    this.pending = this.pending.filter((m) => m.sentAt > kept);
    const due = this.pending.filter((m) => m.availableAt <= now);
    if (!due.length) return { batches: 0 };
    this.pending = this.pending.filter((m) => m.availableAt > now);
    const batches = this.batchesOf(due);
    const retries = new Map<string, QueuedMessage>();
    let next = 0;
    const worker = async () => {
      while (next < batches.length) {
        const batch = batches[next++];
        const index = this.invocations++;
        const location = this.options.locations[index % this.options.locations.length];
        await this.invoke(consumer, envFor({ index, location }), batch, { index, location }, retries);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, batches.length) }, worker));
    this.pending.push(...retries.values());
    return { batches: batches.length };
  }

  /** Rounds until nothing is due now (delayed retries stay for a later `drain` after a clock jump). */
  async drain<E>(consumer: Consumer<E>, envFor: (i: InvocationInfo) => E, maxRounds = 100): Promise<number> {
    let rounds = 0;
    while (rounds < maxRounds && (await this.deliver(consumer, envFor)).batches > 0) rounds++;
    return rounds;
  }

  private async invoke<E>(
    consumer: Consumer<E>,
    env: E,
    batch: QueuedMessage[],
    info: InvocationInfo,
    retries: Map<string, QueuedMessage>,
  ): Promise<void> {
    type Outcome = { kind: 'ack' } | { kind: 'retry'; delaySeconds?: number };
    const explicit = new Map<string, Outcome>();
    let batchWide: Outcome | undefined;
    const messages: Message<unknown>[] = batch.map((m) => ({
      id: m.id,
      timestamp: new Date(m.sentAt),
      body: structuredClone(m.body),
      attempts: m.attempts,
      ack: () => {
        if (!explicit.has(m.id)) explicit.set(m.id, { kind: 'ack' });
      },
      retry: (o?: QueueRetryOptions) => {
        if (!explicit.has(m.id)) explicit.set(m.id, { kind: 'retry', delaySeconds: o?.delaySeconds });
      },
    }));
    const messageBatch: MessageBatch<unknown> = {
      queue: this.name,
      messages,
      metadata: { metrics: { backlogCount: this.pending.length, backlogBytes: 0 } },
      ackAll: () => {
        batchWide ??= { kind: 'ack' };
      },
      retryAll: (o?: QueueRetryOptions) => {
        batchWide ??= { kind: 'retry', delaySeconds: o?.delaySeconds };
      },
    };
    this.active += 1;
    this.maxActive = Math.max(this.maxActive, this.active);
    let threw = false;
    try {
      await consumer(messageBatch, env);
    } catch {
      threw = true;
    } finally {
      this.active -= 1;
    }
    for (const m of batch) {
      const outcome: Outcome =
        explicit.get(m.id) ?? batchWide ?? (threw ? { kind: 'retry' } : { kind: 'ack' });
      const record: Settled = {
        id: m.id,
        body: m.body,
        attempts: m.attempts,
        invocation: info.index,
        location: info.location,
      };
      if (outcome.kind === 'ack') {
        this.acked.push(record);
        continue;
      }
      const delaySeconds = outcome.delaySeconds ?? this.options.retryDelaySeconds;
      this.retried.push({ ...record, delaySeconds });
      if (m.attempts > this.options.maxRetries) {
        this.deadLettered.push(record);
        continue;
      }
      // Two copies retried in one round come back as one message, as on the network.
      const again = { ...m, attempts: m.attempts + 1, availableAt: this.clock() + delaySeconds * 1000 };
      const seen = retries.get(m.id);
      if (!seen || seen.attempts < again.attempts) retries.set(m.id, again);
    }
  }
}
