/**
 * Puts jobs on the mail queue. `sendBatch` takes at most 100 messages and 256 KB per call,
 * so batches are cut at whichever comes first.
 */
import type { QueueJob } from './jobs';

export const SEND_BATCH_MAX_MESSAGES = 100;
/** Below the 256 KB per call, leaving room for per-message overhead. */
export const SEND_BATCH_MAX_BYTES = 200 * 1024;

export async function enqueueJob(queue: Queue, job: QueueJob, delaySeconds?: number): Promise<void> {
  await queue.send(job, delaySeconds ? { contentType: 'json', delaySeconds } : { contentType: 'json' });
}

/** Enqueues all jobs; returns the number of `sendBatch` calls made. */
export async function enqueueJobs(queue: Queue, jobs: QueueJob[]): Promise<number> {
  let calls = 0;
  let batch: MessageSendRequest<QueueJob>[] = [];
  let bytes = 0;
  const flush = async () => {
    if (!batch.length) return;
    await queue.sendBatch(batch);
    calls += 1;
    batch = [];
    bytes = 0;
  };
  for (const job of jobs) {
    const size = JSON.stringify(job).length + 100;
    if (batch.length >= SEND_BATCH_MAX_MESSAGES || bytes + size > SEND_BATCH_MAX_BYTES) await flush();
    batch.push({ body: job, contentType: 'json' });
    bytes += size;
  }
  await flush();
  return calls;
}
