/// <reference path="../../../worker-configuration.d.ts" />
/**
 * Bench-only worker (tests/bench/render.mjs; never deployed): runs the real app's `GET /`
 * in-process many times and reports how long one took.
 *
 * workerd's clock only moves at I/O (a Spectre mitigation that local workerd shares), so
 * a single render cannot be timed; a batch of renders is, with an awaited timer after it
 * to let the clock catch up. Batch averages are then reduced to a median by the caller.
 *
 *   GET /bench?mode=cached|uncached&batch=200&batches=15
 *     → { mode, perBatchMs: number[] }   (milliseconds per render, one value per batch)
 */
import { app } from '../../../worker/app';

interface BenchEnv {
  SHELL: string;
  CONTENT: KVNamespace;
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

export default {
  async fetch(req: Request, benchEnv: BenchEnv, ctx: ExecutionContext) {
    const url = new URL(req.url);
    const mode = url.searchParams.get('mode') === 'uncached' ? 'uncached' : 'cached';
    const batch = Number(url.searchParams.get('batch') ?? 200);
    const batches = Number(url.searchParams.get('batches') ?? 15);
    // The shell comes from the built index.html; ASSETS answers it without real I/O.
    const assets = { fetch: async () => new Response(benchEnv.SHELL) } as unknown as Fetcher;
    // "development" makes the landing route skip the rendered-HTML cache (and re-read the
    // shell), i.e. the uncached path; "production" serves the cached HTML after the first.
    const env = {
      CONTENT: benchEnv.CONTENT,
      ASSETS: assets,
      ENVIRONMENT: mode === 'uncached' ? 'development' : 'production',
    } as unknown as Env;
    const page = new Request('https://bench.test/');
    const once = async () => {
      const res = await app.fetch(page, env, ctx);
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`GET / answered ${res.status}`);
    };
    for (let i = 0; i < 20; i++) await once(); // warm up: JIT, config and shell caches
    const perBatchMs: number[] = [];
    for (let b = 0; b < batches; b++) {
      await tick();
      const start = Date.now();
      for (let i = 0; i < batch; i++) await once();
      await tick();
      // Subtract the one timer tick that closed the batch.
      perBatchMs.push(Math.max(0, Date.now() - start - 1) / batch);
    }
    return Response.json({ mode, perBatchMs });
  },
};
