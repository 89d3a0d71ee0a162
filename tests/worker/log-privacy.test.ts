/**
 * No personal data in logs (issue 6, "Security"). The capture itself lives in
 * log-privacy-setup.ts and checks every worker test file; this file proves that the
 * capture sees the worker's lines (through SELF, `app.request`, and a silenced console),
 * that the check catches a leak, and walks every registration outcome with distinctive
 * values that must not show up in any line.
 */
import { env, SELF } from 'cloudflare:test';
import { Hono } from 'hono';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { app } from '../../worker/app';
import { captureActive, forgetLogsSince, logMark, logsSince, personalDataIn } from './log-privacy-setup';
import { uniqueEmail, withFormFields, withSolution } from './helpers';
import { serverLines } from '../helpers/personal-data.mjs';

afterEach(() => vi.restoreAllMocks());

const text = (mark: number) =>
  logsSince(mark)
    .map((l) => l.text)
    .join('\n');

/** A registration straight into the app; a JSON object body gets a solved challenge, as the form sends. */
async function post(body: BodyInit, headers: Record<string, string>, bindings: Partial<Env> = {}) {
  const type = headers['content-type'];
  const sent =
    typeof body !== 'string'
      ? body
      : type === 'application/json'
        ? await withSolution(body)
        : type === 'application/x-www-form-urlencoded'
          ? await withFormFields(body)
          : body;
  return app.request(
    '/api/register',
    { method: 'POST', headers, body: sent, redirect: 'manual' },
    { ...env, ...bindings },
  );
}

describe('the log capture', () => {
  it('is installed for this file', () => {
    expect(captureActive()).toBe(true);
  });

  it('records what the worker logs when called through SELF', async () => {
    const mark = logMark();
    const res = await SELF.fetch('https://webinar.test/api/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'cf-connecting-ip': '10.77.0.1' },
      body: await withSolution(JSON.stringify({ email: uniqueEmail('capture'), privacy: true })),
    });
    expect(res.status).toBe(200);
    expect(text(mark)).toContain('register.stored');
  });

  it('still records lines while a test silences console.error with a spy', async () => {
    const silenced = vi.spyOn(console, 'error').mockImplementation(() => {});
    const mark = logMark();
    const res = await post(
      JSON.stringify({ email: uniqueEmail('silenced'), privacy: true }),
      { 'content-type': 'application/json', 'cf-connecting-ip': '10.77.0.2' },
      { REGISTER_LIMITER: { limit: () => Promise.reject(new Error('limiter down')) } as never },
    );
    expect(res.status).toBe(200);
    expect(silenced).toHaveBeenCalled();
    expect(text(mark)).toContain('register.ratelimit_failed');
  });

  it('flags a route that logs an address, an IP or a name', async () => {
    // A deliberately leaky route, run in this isolate like the worker's own.
    const leaky = new Hono().post('/leak', async (c) => {
      const { email } = await c.req.json<{ email: string }>();
      console.log(`registered ${email} from ${c.req.header('cf-connecting-ip')}`);
      console.warn({ who: 'Jürgen', ip: 'fd00::77:1' });
      return c.text('ok');
    });
    const mark = logMark();
    silenceRealConsole();
    await leaky.request('/leak', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'cf-connecting-ip': '10.77.0.3' },
      body: JSON.stringify({ email: 'leak.test@beispiel.de' }),
    });
    const hits = personalDataIn(logsSince(mark)).join('\n');
    forgetLogsSince(mark); // planted on purpose; the file-level check must not trip on it
    expect(hits).toContain('leak.test@beispiel.de');
    expect(hits).toContain('10.77.0.3');
    expect(hits).toContain('fd00::77:1');
    expect(hits).toContain('Jürgen');
  });

  it('does not flag clock times, versions or redacted placeholders', () => {
    const lines = [
      { level: 'info', text: '{"event":"x","at":"2026-12-01T10:42:18.123Z","v":"1.9.20"}' },
      { level: 'info', text: '{"message":"Error: bad [email] from [ip]"}' },
    ];
    expect(personalDataIn(lines)).toEqual([]);
  });
});

/** The planted leak goes to the capture only, not to the test output. */
function silenceRealConsole() {
  vi.spyOn(console, 'log').mockImplementation(() => {});
  vi.spyOn(console, 'warn').mockImplementation(() => {});
}

describe('registration logs no personal data, whatever the outcome', () => {
  const EMAIL = 'Privat.Person+Log@Beispiel.de';
  const IP4 = '10.88.12.34';
  const IP6 = 'fd00::88:1234';
  const NAME = 'Zoë-Marie';
  const json = (ip: string) => ({ 'content-type': 'application/json', 'cf-connecting-ip': ip });
  const form = (ip: string) => ({
    'content-type': 'application/x-www-form-urlencoded',
    'cf-connecting-ip': ip,
  });
  const failing = (prop: 'batch' | 'prepare') =>
    new Proxy(env.DB, {
      get(target, p) {
        if (p === prop) return () => Promise.reject(new Error(`D1 ${prop} failed for ${EMAIL} at ${IP4}`));
        const value = Reflect.get(target, p);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });

  it('stored, repeated, rejected, honeypot, D1 failure, limiter failure, too large, wrong type', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const mark = logMark();
    const body = JSON.stringify({ email: EMAIL, firstName: NAME, privacy: true, giveaway: true });
    const statuses = [
      (await post(body, json(IP4))).status,
      (await post(body, json(IP6))).status,
      (await post(JSON.stringify({ email: EMAIL, firstName: `${NAME} www.x.de` }), json(IP4))).status,
      (await post(new URLSearchParams({ email: EMAIL, firstName: NAME }).toString(), form(IP6))).status,
      (await post(JSON.stringify({ email: EMAIL, privacy: true, website: 'x' }), json(IP4))).status,
      (await post(body.replace('Privat', 'Other'), json(IP4), { DB: failing('batch') })).status,
      (await post(body.replace('Privat', 'Third'), json(IP6), { DB: failing('batch') })).status,
      (
        await post(body.replace('Privat', 'Fourth'), json(IP4), {
          REGISTER_LIMITER: { limit: () => Promise.reject(new Error(`limiter down for ${IP4}`)) } as never,
        })
      ).status,
      (await post(JSON.stringify({ email: EMAIL, firstName: 'x'.repeat(9000) }), json(IP4))).status,
      (await post(body, { 'content-type': 'text/plain', 'cf-connecting-ip': IP4 })).status,
    ];
    expect(statuses).toEqual([200, 200, 400, 400, 200, 503, 503, 200, 413, 415]);
    const lines = logsSince(mark);
    // The failures were logged (so there was something to leak)…
    expect(text(mark)).toContain('register.store_failed');
    expect(text(mark)).toContain('register.ratelimit_failed');
    // …and nothing personal made it into any line, not even through an error message.
    expect(personalDataIn(lines, [EMAIL, EMAIL.toLowerCase(), IP4, IP6, NAME])).toEqual([]);
  });
});

describe("the servers' output check (e2e and benches, tests/helpers/server.mjs)", () => {
  const sample = (extra: string) =>
    [
      '  ➜  Local:   http://127.0.0.1:4300/',
      '\u001b[34msend_email binding called with MessageBuilder:\u001b[39m',
      'From: "Musterfirma GmbH" <webinar@example.com>',
      'To: erika.muster@beispiel.de',
      'Subject: Bitte bestätigen Sie Ihre Anmeldung',
      '',
      'Text: /tmp/miniflare-x/email-text-1.txt',
      '{"level":"info","event":"register.stored","outcome":"created"}',
      extra,
    ].join('\n');

  it("passes the server's own address and the local mail simulator's envelope lines", () => {
    expect(personalDataIn(serverLines(sample('')))).toEqual([]);
  });

  it('finds an address or a client IP the worker logs, also 127.0.0.1 and after a mail', () => {
    const hits = (line: string) => personalDataIn(serverLines(sample(line)));
    expect(hits('{"level":"error","message":"no lead for erika.muster@beispiel.de"}')).toHaveLength(1);
    expect(hits('{"level":"warn","ip":"127.0.0.1"}')).toHaveLength(1);
    expect(hits('{"level":"warn","ip":"2001:db8:0:0:1:0:0:1"}')).toHaveLength(1);
    // An envelope-like line that does not follow the simulator's header is the worker's own.
    expect(hits('To: erika.muster@beispiel.de')).toHaveLength(1);
    expect(hits('Anmeldung von Jürgen')).toHaveLength(1);
  });
});
