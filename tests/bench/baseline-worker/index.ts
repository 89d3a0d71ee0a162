/**
 * The load benchmark's baseline (tests/bench/load.mjs): a bare Hono worker served by the
 * same `vite preview` + workerd stack as the real app.
 *
 *   POST /api/register          parses the JSON body, answers 201: no validation, no
 *                               hashing, no KV, no rate limit
 *   POST /api/register-io?steps=limit,get,put,queue,log
 *                               the same plus the binding calls a registration makes
 *                               (the steps listed, in that order: limiter, one bulk KV get
 *                               of two keys, one KV put with metadata, one queue send, one
 *                               log line), without any of our code, to split the app's cost
 *                               into simulated I/O and our own work
 *   GET  /                      a constant HTML string about the size of the real page
 */
import { Hono } from 'hono';

interface Bindings {
  LEADS: KVNamespace;
  LIMITER: RateLimit;
  QUEUE: Queue;
}

const PAGE = `<!doctype html><html lang="de"><head><meta charset="utf-8"><title>Baseline</title></head><body>${'<p>Finanzielle Selbstverteidigung: So retten Sie Ihr Vermögen.</p>'.repeat(600)}</body></html>`;

const app = new Hono<{ Bindings: Bindings }>()
  .post('/api/register', async (c) => {
    const body = await c.req.json<unknown>();
    return c.json({ ok: true, received: typeof body }, 201);
  })
  .post('/api/register-io', async (c) => {
    const body = await c.req.json<{ email?: string }>();
    const steps = new Set((c.req.query('steps') ?? '').split(','));
    const key = `lead:${String(body.email)}`;
    if (steps.has('limit')) await c.env.LIMITER.limit({ key: c.req.header('cf-connecting-ip') ?? 'x' });
    // The app reads the suppression marker and the lead in one bulk get (worker/lead-store.ts).
    if (steps.has('get')) await c.env.LEADS.get([`suppressed:${key}`, key], 'text');
    if (steps.has('put')) await c.env.LEADS.put(key, JSON.stringify(body), { metadata: { e: body.email } });
    if (steps.has('queue')) await c.env.QUEUE.send({ kind: 'confirm', key });
    // One structured log line per request, as the app writes (`register.stored`).
    if (steps.has('log')) console.info(JSON.stringify({ level: 'info', event: 'bench.stored' }));
    return c.json({ ok: true }, 201);
  })
  .get('/', (c) => c.html(PAGE));

export default app;
