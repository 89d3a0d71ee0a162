/**
 * The Queues double must keep delivering like the network (tests/worker/doubles/queue-network.ts):
 * duplicates, concurrent consumers, redelivery of retried messages, dead letters.
 */
import { describe, expect, it } from 'vitest';
import { manualClock } from './kv-network';
import { QueueNetwork } from './queue-network';

const T0 = Date.UTC(2030, 0, 1);

/** A consumer that records each body it sees and acks, optionally waiting for a gate. */
function recorder(gate?: Promise<void>) {
  const seen: { body: unknown; attempts: number; location: string }[] = [];
  const consumer = async (batch: MessageBatch<unknown>, env: { location: string }) => {
    await gate;
    for (const m of batch.messages) seen.push({ body: m.body, attempts: m.attempts, location: env.location });
  };
  return { seen, consumer };
}

describe('Queue double', () => {
  it('records send and sendBatch, and delivers copies of the same message id', async () => {
    const clock = manualClock(T0);
    const q = new QueueNetwork({ clock: clock.now, duplicates: 2 });
    await q.producer.send({ n: 1 });
    await q.producer.sendBatch([{ body: { n: 2 } }]);
    expect(q.sent.map((s) => s.body)).toEqual([{ n: 1 }, { n: 2 }]);
    const { seen, consumer } = recorder();
    await q.drain(consumer, ({ location }) => ({ location }));
    expect(seen.filter((s) => (s.body as { n: number }).n === 1)).toHaveLength(3);
    expect(q.acked).toHaveLength(6);
    expect(new Set(q.acked.map((a) => a.id)).size).toBe(2);
    expect(q.backlog).toHaveLength(0);
  });

  it('runs several consumer invocations at once, in different locations', async () => {
    const clock = manualClock(T0);
    const q = new QueueNetwork({
      clock: clock.now,
      duplicates: 1,
      concurrency: 3,
      locations: ['a', 'b', 'c'],
    });
    await q.producer.send('job');
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const { seen, consumer } = recorder(gate);
    const run = q.drain(consumer, ({ location }) => ({ location }));
    await new Promise((r) => setTimeout(r, 0));
    expect(q.maxActive).toBe(2); // both copies are in flight before either finishes
    open();
    await run;
    expect(new Set(seen.map((s) => s.location)).size).toBe(2);
  });

  it('redelivers a retried message with attempts + 1 after its delay, then dead-letters it', async () => {
    const clock = manualClock(T0);
    const q = new QueueNetwork({ clock: clock.now, duplicates: 0, maxRetries: 2 });
    await q.producer.send('flaky');
    const attempts: number[] = [];
    const consumer = async (batch: MessageBatch<unknown>) => {
      for (const m of batch.messages) {
        attempts.push(m.attempts);
        m.retry({ delaySeconds: 30 });
      }
    };
    await q.drain(consumer, () => ({}));
    expect(attempts).toEqual([1]);
    clock.advance(29_000);
    await q.drain(consumer, () => ({}));
    expect(attempts).toEqual([1]);
    clock.advance(1_000);
    await q.drain(consumer, () => ({}));
    clock.advance(30_000);
    await q.drain(consumer, () => ({}));
    expect(attempts).toEqual([1, 2, 3]);
    expect(q.deadLettered.map((d) => d.attempts)).toEqual([3]);
    expect(q.backlog).toHaveLength(0);
  });

  it('settles like the runtime: explicit calls win, a throw retries the rest, ackAll covers the rest', async () => {
    const clock = manualClock(T0);
    const q = new QueueNetwork({ clock: clock.now, duplicates: 0, concurrency: 1 });
    await q.producer.sendBatch([{ body: 'a' }, { body: 'b' }, { body: 'c' }]);
    await q.deliver(
      async (batch) => {
        const [a, b] = [...batch.messages].sort((x, y) => String(x.body).localeCompare(String(y.body)));
        a.ack();
        a.retry(); // ignored: ack came first
        b.retry();
        b.ack(); // ignored: retry came first
        throw new Error('crash after two decisions');
      },
      () => ({}),
    );
    expect(q.acked.map((m) => m.body)).toEqual(['a']);
    expect(q.retried.map((m) => m.body).sort()).toEqual(['b', 'c']);
    await q.deliver(
      async (batch) => batch.ackAll(),
      () => ({}),
    );
    expect(q.acked.map((m) => m.body).sort()).toEqual(['a', 'b', 'c']);
  });

  it('drops a message that outlived the retention period, retried or not, without delivering it', async () => {
    const clock = manualClock(T0);
    const q = new QueueNetwork({ clock: clock.now, duplicates: 0, retentionMs: 4 * 86_400_000 });
    await q.producer.send('old');
    await q.deliver(
      async (batch) => batch.retryAll({ delaySeconds: 3600 }),
      () => ({}),
    );
    clock.advance(4 * 86_400_000);
    await q.producer.send('new');
    const { seen, consumer } = recorder();
    await q.drain(consumer, () => ({ location: 'x' }));
    expect(seen.map((s) => s.body)).toEqual(['new']);
    expect(q.expired.map((m) => m.body)).toEqual(['old']);
    expect(q.backlog).toHaveLength(0);
  });

  it('fails a send when told to, like a queue that refuses messages', async () => {
    const q = new QueueNetwork({ clock: () => T0, sendFailure: () => new Error('Queue send failed: 500') });
    await expect(q.producer.send('x')).rejects.toThrow('Queue send failed');
    expect(q.sent).toHaveLength(0);
  });
});
