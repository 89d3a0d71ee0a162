/**
 * The marketing config API through the whole app (SELF.fetch): roles, publish, 400 with
 * field paths, 409 on a stale base, rollback, history, preview, and the live page showing
 * what was published. Storage is shared within this file: tests read the current version
 * first instead of assuming one.
 */
import { env, SELF } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  CURRENT_KEY,
  DEFAULT_CONFIG,
  resetConfigCache,
  versionKey,
  type LiveConfig,
} from '../../worker/config-store';
import type { WebinarConfig } from '../../src/lib/webinar-config';
import { readAudit } from '../../worker/audit-log';

const ORIGIN = 'https://webinar.test';
const MARKETING = { authorization: `Bearer ${env.MARKETING_TOKEN}` };
const OPS = { authorization: `Bearer ${env.OPS_TOKEN}` };

beforeEach(() => resetConfigCache());

function api(path: string, init: RequestInit & { headers?: Record<string, string> } = {}) {
  return SELF.fetch(`${ORIGIN}${path}`, init);
}

function send(method: string, path: string, body: unknown, headers: Record<string, string> = MARKETING) {
  return api(path, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function current(): Promise<LiveConfig> {
  const res = await api('/api/admin/config', { headers: MARKETING });
  expect(res.status).toBe(200);
  return res.json();
}

function withSpeakerName(config: WebinarConfig, index: number, name: string): WebinarConfig {
  const c = structuredClone(config);
  c.speakers[index].name = name;
  return c;
}

/** The live-version row in D1 (null before the first admin read adopts one). */
const livePointer = () => env.DB.prepare('SELECT version FROM config_pointer WHERE id = 1').first();

async function landingHtml(): Promise<string> {
  const res = await api('/');
  expect(res.status).toBe(200);
  return res.text();
}

describe('who may use the config API', () => {
  const routes: Array<[string, string, unknown?]> = [
    ['GET', '/api/admin/config'],
    ['PUT', '/api/admin/config', { baseVersion: 0, config: DEFAULT_CONFIG }],
    ['GET', '/api/admin/config/history'],
    ['POST', '/api/admin/config/rollback', { version: 0 }],
    ['POST', '/api/admin/preview', { config: DEFAULT_CONFIG }],
    ['POST', '/api/admin/media', 'x'],
  ];

  it.each(routes)('%s %s without credentials → 401 with a German message', async (method, path, body) => {
    const res = await api(path, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ ok: false, error: 'Bitte melden Sie sich an.' });
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it.each(routes)('%s %s as ops → 403 (ops never changes the page)', async (method, path, body) => {
    const before = await env.CONTENT.get(CURRENT_KEY);
    const pointerBefore = await livePointer();
    const res = await api(path, {
      method,
      headers: { 'content-type': 'application/json', ...OPS },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toBe(
      'Für diese Aktion fehlt Ihnen die Berechtigung.',
    );
    expect(await env.CONTENT.get(CURRENT_KEY)).toBe(before);
    expect(await livePointer()).toEqual(pointerBefore);
  });

  it('refuses a cookie-session publish without the CSRF header, accepts it with', async () => {
    const signIn = await send(
      'POST',
      '/api/admin/session',
      { token: env.MARKETING_TOKEN },
      { origin: ORIGIN },
    );
    expect(signIn.status).toBe(200);
    const { csrf } = (await signIn.json()) as { csrf: string };
    const cookie = signIn.headers.get('set-cookie')!.split(';')[0];
    const live = await current();
    const body = {
      baseVersion: live.fallbackFrom ?? live.version,
      config: withSpeakerName(live.config, 0, 'Per Sitzung'),
    };
    const without = await send('PUT', '/api/admin/config', body, { cookie, origin: ORIGIN });
    expect(without.status).toBe(403);
    const withCsrf = await send('PUT', '/api/admin/config', body, {
      cookie,
      origin: ORIGIN,
      'x-csrf-token': csrf,
    });
    expect(withCsrf.status).toBe(200);
  });
});

describe('PUT /api/admin/config (publish)', () => {
  it('publishes a renamed speaker and the live page shows the new name at once', async () => {
    const live = await current();
    const name = `Neuer Referent ${Date.now()}`;
    const res = await send('PUT', '/api/admin/config', {
      baseVersion: live.fallbackFrom ?? live.version,
      config: withSpeakerName(live.config, 1, name),
    });
    expect(res.status).toBe(200);
    const { version } = (await res.json()) as { version: number };
    expect(version).toBe((live.fallbackFrom ?? live.version) + 1);
    expect(res.headers.get('cache-control')).toBe('no-store');

    const html = await landingHtml();
    expect(html).toContain(name);
    expect((await current()).version).toBe(version);

    // Every admin action is audited, without personal data.
    const { entries } = await readAudit(env.DB, { limit: 1000 });
    expect(
      entries.find((e) => e.action === 'config.published' && e.detail?.version === version),
    ).toMatchObject({
      role: 'marketing',
      id: 'token:marketing',
    });
  });

  it('answers a publish on a stale base with 409 and a German reload message; the page keeps the first', async () => {
    const live = await current();
    const base = live.fallbackFrom ?? live.version;
    const first = await send('PUT', '/api/admin/config', {
      baseVersion: base,
      config: withSpeakerName(live.config, 2, 'Erste Änderung'),
    });
    expect(first.status).toBe(200);
    const second = await send('PUT', '/api/admin/config', {
      baseVersion: base,
      config: withSpeakerName(live.config, 2, 'Zweite Änderung'),
    });
    expect(second.status).toBe(409);
    expect(await second.json()).toEqual({
      ok: false,
      error: 'Jemand anderes hat inzwischen veröffentlicht – bitte neu laden.',
      currentVersion: base + 1,
    });
    const html = await landingHtml();
    expect(html).toContain('Erste Änderung');
    expect(html).not.toContain('Zweite Änderung');
  });

  it('lets exactly one of two simultaneous publishes from one base through; the other gets 409', async () => {
    const live = await current();
    const base = live.fallbackFrom ?? live.version;
    const names = ['Gleichzeitig A', 'Gleichzeitig B'];
    const answers = await Promise.all(
      names.map((name) =>
        send('PUT', '/api/admin/config', {
          baseVersion: base,
          config: withSpeakerName(live.config, 3, name),
        }),
      ),
    );
    expect(answers.map((r) => r.status).sort()).toEqual([200, 409]);
    const winner = names[answers.findIndex((r) => r.status === 200)];
    const loser = names.find((n) => n !== winner)!;
    const html = await landingHtml();
    expect(html).toContain(winner);
    expect(html).not.toContain(loser);
    expect(await current()).toMatchObject({ version: base + 1 });
  });

  it('rejects an invalid config with 400 and German messages per field path', async () => {
    const live = await current();
    const bad = structuredClone(live.config) as unknown as Record<string, any>;
    bad.speakers[2].name = '';
    bad.webinar.start = '18.03.2027 19:00';
    delete bad.cta;
    const res = await send('PUT', '/api/admin/config', {
      baseVersion: live.fallbackFrom ?? live.version,
      config: bad,
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { ok: false; errors: Record<string, string> };
    expect(body.errors['speakers.2.name']).toBe('Der Name darf nicht leer sein.');
    expect(body.errors['webinar.start']).toMatch(/^Der Beginn braucht das Format/);
    expect(body.errors.cta).toBe('Dieses Feld fehlt.');
    expect((await current()).version).toBe(live.version);
  });

  it('rejects a body without baseVersion, a wrong content type, bad JSON and an oversized body', async () => {
    const missing = await send('PUT', '/api/admin/config', { config: DEFAULT_CONFIG });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { errors: Record<string, string> }).errors.baseVersion).toBe(
      'Dieses Feld fehlt.',
    );

    const text = await api('/api/admin/config', {
      method: 'PUT',
      headers: { 'content-type': 'text/plain', ...MARKETING },
      body: '{}',
    });
    expect(text.status).toBe(415);
    expect(((await text.json()) as { error: string }).error).toBe(
      'Bitte senden Sie die Daten als application/json.',
    );

    const broken = await send('PUT', '/api/admin/config', '{"baseVersion": 1,');
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { error: string }).error).toBe(
      'Die Anfrage enthält kein gültiges JSON.',
    );

    const huge = await send('PUT', '/api/admin/config', {
      baseVersion: 0,
      config: { x: 'a'.repeat(300 * 1024) },
    });
    expect(huge.status).toBe(413);
    expect(((await huge.json()) as { error: string }).error).toMatch(/zu groß/);
  });
});

describe('history and rollback', () => {
  it('lists versions newest first with time, who and summary; rollback restores an old name as a new version', async () => {
    const live = await current();
    const base = live.fallbackFrom ?? live.version;
    await send('PUT', '/api/admin/config', {
      baseVersion: base,
      config: withSpeakerName(live.config, 3, 'Version A'),
    });
    await send('PUT', '/api/admin/config', {
      baseVersion: base + 1,
      config: withSpeakerName(live.config, 3, 'Version B'),
    });

    const historyRes = await api('/api/admin/config/history', { headers: MARKETING });
    expect(historyRes.status).toBe(200);
    const history = (await historyRes.json()) as {
      current: number;
      entries: Array<{ version: number; publishedAt: string; publishedBy: string; summary: string }>;
    };
    expect(history.current).toBe(base + 2);
    expect(history.entries[0]).toMatchObject({
      version: base + 2,
      publishedBy: 'token:marketing',
      summary: 'Referent umbenannt: Version A → Version B',
    });
    expect(Date.parse(history.entries[0].publishedAt)).toBeGreaterThan(Date.now() - 60_000);

    const back = await send('POST', '/api/admin/config/rollback', { version: base + 1 });
    expect(back.status).toBe(200);
    expect(((await back.json()) as { version: number }).version).toBe(base + 3);
    const html = await landingHtml();
    expect(html).toContain('Version A');
    expect(html).not.toContain('Version B');
  });

  it('answers a rollback to a version that does not exist with 404', async () => {
    const res = await send('POST', '/api/admin/config/rollback', { version: 987_654 });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toBe('Diese Version gibt es nicht.');
  });
});

describe('POST /api/admin/preview', () => {
  it('renders the draft as visitors would see it, framable by our own admin only, and publishes nothing', async () => {
    const live = await current();
    const draft = withSpeakerName(live.config, 0, 'Nur in der Vorschau');
    const res = await send('POST', '/api/admin/preview', { config: draft });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('Nur in der Vorschau');
    expect(html).toContain(draft.webinar.title.replace(/:/g, ':'));
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("frame-ancestors 'self'");
    expect(csp).not.toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(res.headers.get('cache-control')).toBe('no-store');

    expect(await landingHtml()).not.toContain('Nur in der Vorschau');
    const page = await api('/');
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  });

  it('answers an invalid draft with 400 and field paths', async () => {
    const bad = structuredClone(DEFAULT_CONFIG) as unknown as Record<string, any>;
    bad.topics = [];
    const res = await send('POST', '/api/admin/preview', { config: bad });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errors: Record<string, string> }).errors.topics).toBe(
      'Es braucht mindestens ein Thema.',
    );
  });
});

describe('a corrupt stored config', () => {
  it('is never rendered; GET reports fallbackFrom so the admin can warn, and a publish repairs it', async () => {
    const live = await current();
    const base = live.fallbackFrom ?? live.version;
    const good = withSpeakerName(live.config, 4, 'Letzte gute Fassung');
    expect((await send('PUT', '/api/admin/config', { baseVersion: base, config: good })).status).toBe(200);
    const corrupt = withSpeakerName(live.config, 4, 'Kaputte Fassung') as unknown as Record<string, any>;
    corrupt.webinar.joinUrl = 'javascript:alert(1)';
    await env.CONTENT.put(versionKey(base + 2), JSON.stringify({ version: base + 2, config: corrupt }));
    // As a publish would leave it: the pointer in D1, its mirror in KV.
    await env.DB.prepare('UPDATE config_pointer SET version = ?1 WHERE id = 1')
      .bind(base + 2)
      .run();
    await env.CONTENT.put(CURRENT_KEY, String(base + 2));
    resetConfigCache();

    const html = await landingHtml();
    expect(html).toContain('Letzte gute Fassung');
    expect(html).not.toContain('Kaputte Fassung');
    const admin = await current();
    expect(admin).toMatchObject({ version: base + 1, fallbackFrom: base + 2 });

    const repaired = await send('PUT', '/api/admin/config', {
      baseVersion: admin.fallbackFrom,
      config: withSpeakerName(admin.config, 4, 'Repariert'),
    });
    expect(repaired.status).toBe(200);
    expect(await landingHtml()).toContain('Repariert');
    expect((await current()).fallbackFrom).toBeUndefined();
  });
});
