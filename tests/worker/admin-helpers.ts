/**
 * Helpers for the ops/admin worker tests: leads seeded through the real store functions
 * into the test file's own D1, an empty person-data store per test, a D1 binding that
 * records the SQL it is given, and requests with each kind of credential.
 */
import { env, SELF } from 'cloudflare:test';
import { Registration } from '../../src/lib/registration';
import * as v from 'valibot';
import { app } from '../../worker/app';
import {
  confirmLead,
  registerLead,
  unsubscribeLead,
  type ConsentTexts,
  type LeadStatus,
} from '../../worker/store/lead-store';
import { uniqueIp } from './helpers';

export const ORIGIN = 'https://webinar.test';

const PERSON_TABLES = [
  'consents',
  'lead_events',
  'mail_sends',
  'dead_letters',
  'draws',
  'dev_outbox',
  'suppression',
  'audit_log',
  'leads',
];

/** Empties every person-data table, so a test sees only the data it creates. */
export async function emptyPersonData(): Promise<void> {
  await env.DB.batch(PERSON_TABLES.map((t) => env.DB.prepare(`DELETE FROM ${t}`)));
}

const TEXTS: ConsentTexts = {
  version: 'test-1',
  privacy: 'Ich habe die Datenschutzhinweise gelesen.',
  giveaway: 'Ich möchte am Gewinnspiel teilnehmen.',
  newsletter: 'Ich möchte den Newsletter.',
  configVersion: null,
};

let seq = 0;

export interface SeedOptions {
  email?: string;
  firstName?: string;
  /** Registration time (ms); consents are given then. */
  at: number;
  status?: LeadStatus;
  giveaway?: boolean;
  newsletter?: boolean;
  /** Confirmation time (ms) for `confirmed` and `unsubscribed`; default an hour after `at`. */
  confirmAt?: number;
  utm_source?: string;
  utm_medium?: string;
  utm_campaign?: string;
}

/**
 * A lead stored as a registration would store it (the real schema and store functions),
 * then confirmed and unsubscribed as asked. Returns its id and the address as stored.
 */
export async function seedLead(o: SeedOptions): Promise<{ id: string; email: string }> {
  const input = v.parse(Registration, {
    email: o.email ?? `person.${++seq}.${o.at.toString(36)}@beispiel.de`,
    firstName: o.firstName ?? '',
    privacy: true,
    giveaway: o.giveaway ?? false,
    newsletter: o.newsletter ?? false,
    ...(o.utm_source ? { utm_source: o.utm_source } : {}),
    ...(o.utm_medium ? { utm_medium: o.utm_medium } : {}),
    ...(o.utm_campaign ? { utm_campaign: o.utm_campaign } : {}),
  });
  const { id } = await registerLead(env.DB, env.LEAD_KEY_SECRET, input, {
    now: new Date(o.at),
    phase: 'before',
    texts: TEXTS,
    ip: '192.0.2.1',
    userAgent: 'seed',
    giveawayOpen: true,
  });
  const status = o.status ?? 'pending';
  const confirmAt = o.confirmAt ?? o.at + 3_600_000;
  if (status !== 'pending')
    await confirmLead(env.DB, id, { atMs: confirmAt, ip: '192.0.2.2', userAgent: 'seed' }, confirmAt);
  if (status === 'unsubscribed') await unsubscribeLead(env.DB, id, confirmAt + 60_000);
  return { id, email: input.email };
}

/** A lead row written straight with SQL: for values no registration can produce any more. */
export interface RawLead {
  id: string;
  email: string;
  created_at: number;
  first_name?: string;
  status?: LeadStatus;
  confirmed_at?: number | null;
  utm_source?: string | null;
  utm_medium?: string | null;
  utm_campaign?: string | null;
  /** Consents to add, each given at `created_at`. */
  consents?: Partial<Record<'privacy' | 'giveaway' | 'newsletter', 'pending' | 'confirmed' | 'withdrawn'>>;
}

/** Many leads in two statements (json_each), so a test can have thousands in milliseconds. */
export async function insertLeads(rows: RawLead[]): Promise<void> {
  const leads = rows.map((r) => ({
    first_name: '',
    status: 'pending',
    confirmed_at: null,
    utm_source: null,
    utm_medium: null,
    utm_campaign: null,
    ...r,
    mailbox: `mailbox-${r.id}`,
  }));
  const consents = rows.flatMap((r) =>
    Object.entries(r.consents ?? {}).map(([kind, status]) => ({
      lead_id: r.id,
      kind,
      status,
      at: r.created_at,
    })),
  );
  const col = (name: string) => `json_extract(j.value, '$.${name}')`;
  await env.DB.batch([
    env.DB.prepare(
      `INSERT INTO leads (id, mailbox, email, first_name, status, phase, created_at, updated_at, confirmed_at,
         utm_source, utm_medium, utm_campaign)
       SELECT ${['id', 'mailbox', 'email', 'first_name', 'status'].map(col).join(', ')}, 'before',
         ${col('created_at')}, ${col('created_at')}, ${col('confirmed_at')},
         ${col('utm_source')}, ${col('utm_medium')}, ${col('utm_campaign')}
       FROM json_each(?1) j`,
    ).bind(JSON.stringify(leads)),
    env.DB.prepare(
      `INSERT INTO consents (lead_id, kind, status, text_version, text, given_at, given_ip, given_ua, confirmed_at)
       SELECT ${col('lead_id')}, ${col('kind')}, ${col('status')}, 'test-1', 'Text', ${col('at')}, '192.0.2.1', 'seed',
         CASE WHEN ${col('status')} = 'pending' THEN NULL ELSE ${col('at')} END
       FROM json_each(?1) j`,
    ).bind(JSON.stringify(consents)),
  ]);
}

/** A 64-hex lead id that sorts in the order of `n`. */
export const fakeId = (n: number) => n.toString(16).padStart(16, '0').padEnd(64, 'a');

/** env.DB that records every SQL text it prepares (batches included). */
export function recordingDb(db: D1Database = env.DB): { db: D1Database; sql: string[] } {
  const sql: string[] = [];
  const recorded = new Proxy(db, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (prop === 'prepare')
        return (query: string) => {
          sql.push(query.replace(/\s+/g, ' ').trim());
          return target.prepare(query);
        };
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { db: recorded, sql };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
export const OPS = () => bearer(env.OPS_TOKEN);
export const MARKETING = () => bearer(env.MARKETING_TOKEN);

/** Signs in through the API; returns the cookie header and CSRF value. */
export async function session(token: string): Promise<{ cookie: string; csrf: string }> {
  const res = await SELF.fetch(`${ORIGIN}/api/admin/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: ORIGIN, 'cf-connecting-ip': uniqueIp() },
    body: JSON.stringify({ token }),
  });
  if (res.status !== 200) throw new Error(`sign-in failed: ${res.status}`);
  const { csrf } = (await res.json()) as { csrf: string };
  return { cookie: (res.headers.get('set-cookie') ?? '').split(';')[0], csrf };
}

/** `app.request` with the test env, some bindings replaced (e.g. a recording or failing DB). */
export function request(
  path: string,
  init: RequestInit = {},
  bindings: Partial<Env> = {},
): Promise<Response> {
  // A fresh client IP per request, so the per-IP auth budget does not couple tests.
  const headers = new Headers(init.headers);
  if (!headers.has('cf-connecting-ip')) headers.set('cf-connecting-ip', uniqueIp());
  return Promise.resolve(app.request(`${ORIGIN}${path}`, { ...init, headers }, { ...env, ...bindings }));
}

export const postJsonInit = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});
