/**
 * The load benchmark's baseline (tests/bench/load.mjs): a bare Hono worker served by the
 * same `vite preview` + workerd stack as the real app.
 *
 *   POST /api/register     parses the JSON body, answers 201: no validation, no hashing,
 *                          no KV, no rate limit
 *   POST /api/register-kv  the same plus one KV put, to show what the local KV simulator
 *                          costs on its own
 *   GET  /                 a constant HTML string about the size of the real page
 */
import { Hono } from 'hono';

const PAGE = `<!doctype html><html lang="de"><head><meta charset="utf-8"><title>Baseline</title></head><body>${'<p>Finanzielle Selbstverteidigung: So retten Sie Ihr Vermögen.</p>'.repeat(600)}</body></html>`;

const app = new Hono<{ Bindings: { LEADS: KVNamespace } }>()
  .post('/api/register', async (c) => {
    const body = await c.req.json<unknown>();
    return c.json({ ok: true, received: typeof body }, 201);
  })
  .post('/api/register-kv', async (c) => {
    const body = await c.req.json<{ email?: string }>();
    await c.env.LEADS.put(`lead:${String(body.email)}`, JSON.stringify(body));
    return c.json({ ok: true }, 201);
  })
  .get('/', (c) => c.html(PAGE));

export default app;
