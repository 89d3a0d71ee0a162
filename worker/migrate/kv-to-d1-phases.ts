/**
 * The copy phases of the KV → D1 move (worker/migrate/kv-to-d1.ts runs them in order):
 * leads with their markers, dead letters and half-done erasures; markers and dead letters
 * whose lead is gone; suppression, fan-out state, audit, draws, the dev outbox (counted,
 * never moved) and the config pointer. Each reads one KV page and writes it in one batch.
 */
import * as v from 'valibot';
import { readPointer } from '../config-store';
import { normaliseEmail } from '../../src/lib/email';
import { leadKeys } from '../store/lead-keys';
import * as L from './legacy-kv';
import { sendRef as claimRef } from './legacy-kv';
import { bulk, copyDraws, insertRows, json, list, type Ctx } from './kv-to-d1-sql';

export const PHASES = [...L.LEGACY_KINDS, 'config'] as const;
export type Phase = (typeof PHASES)[number];
const LEAD_PAGE = 100;
const PAGE = 1000;

/** One page of `lead:` records, with their markers, dead letters and suppression. */
async function copyLeads(ctx: Ctx, cursor?: string): Promise<string | undefined> {
  const { keys, next } = await list(ctx, L.LEGACY_PREFIXES.lead, LEAD_PAGE, cursor);
  const legacyIds = keys.map((k) => k.name.slice(L.LEGACY_PREFIXES.lead.length));
  const c = ctx.counts;
  c.lead.seen += legacyIds.length;
  const per = (prefix: string) =>
    legacyIds.flatMap((id) => L.LEGACY_MAIL_KINDS.map((k) => `${prefix}${k}:${id}`));
  const records = await bulk(
    ctx,
    keys.map((k) => k.name),
  );
  const suppressed = await bulk(
    ctx,
    legacyIds.map((id) => L.LEGACY_PREFIXES.suppressed + id),
  );
  const sent = await bulk(ctx, per(L.LEGACY_PREFIXES.sent));
  const dead = new Map<string, { value: string | null; metadata: unknown }>();
  const dlqKeys = per(L.LEGACY_PREFIXES.dlq);
  for (let i = 0; i < dlqKeys.length; i += 100) {
    for (const [k, val] of await ctx.kv.getWithMetadata(dlqKeys.slice(i, i + 100), 'text')) dead.set(k, val);
    ctx.ops += 1;
  }

  const rows: L.LeadRows[] = [];
  const sends: Record<string, string | number>[] = [];
  const letters: Record<string, string | number | null>[] = [];
  const suppressions: Record<string, string | number>[] = [];
  /** The new id of every record moved, duplicates (two old spellings of one address) included. */
  const mapped: string[] = [];
  for (const legacyId of legacyIds) {
    const markers = L.LEGACY_MAIL_KINDS.filter(
      (k) => sent.get(`${L.LEGACY_PREFIXES.sent}${k}:${legacyId}`) != null,
    );
    const letterKinds = L.LEGACY_MAIL_KINDS.filter(
      (k) => dead.get(`${L.LEGACY_PREFIXES.dlq}${k}:${legacyId}`)?.value != null,
    );
    const record = v.safeParse(L.LegacyLead, json(records.get(L.LEGACY_PREFIXES.lead + legacyId)));
    const erased = v.safeParse(
      L.LegacySuppression,
      json(suppressed.get(L.LEGACY_PREFIXES.suppressed + legacyId)),
    );
    if (!record.success || suppressed.get(L.LEGACY_PREFIXES.suppressed + legacyId) != null) {
      // Unreadable, or erased half-way (marker written, record left): not moved as a lead.
      c.lead.skipped += 1;
      c.sent.skipped += markers.length;
      c.dlq.skipped += letterKinds.length;
      if (record.success && erased.success) {
        const { mailbox } = await leadKeys(record.output.email, ctx.secret);
        const at = erased.output.at ? Date.parse(erased.output.at) : ctx.now;
        suppressions.push({ mailbox, at, by: erased.output.by });
      }
      continue;
    }
    const r = await L.leadRows(legacyId, record.output, ctx.secret, ctx.now);
    const id = r.lead.id as string;
    const mailbox = r.lead.mailbox as string;
    const normal = normaliseEmail(record.output.email);
    const domain = normal.slice(normal.lastIndexOf('@') + 1);
    if (!mapped.includes(id)) rows.push(r);
    mapped.push(id);
    for (const kind of markers) {
      const m = v.safeParse(
        L.LegacySentMarker,
        json(sent.get(`${L.LEGACY_PREFIXES.sent}${kind}:${legacyId}`)),
      );
      const at = m.success ? Date.parse(m.output.at) : ctx.now;
      // Mailbox and domain as the send budgets count them (worker/abuse/mail-budget.ts).
      sends.push({
        lead_id: id,
        kind,
        ref: m.success ? claimRef(kind, m.output) : 'migrated',
        at,
        mailbox,
        domain,
      });
    }
    for (const kind of letterKinds) {
      const entry = dead.get(`${L.LEGACY_PREFIXES.dlq}${kind}:${legacyId}`)!;
      const meta = v.parse(
        L.LegacyDeadLetter,
        v.is(v.record(v.string(), v.unknown()), entry.metadata) ? entry.metadata : {},
      );
      const body = (json(entry.value) as { body?: unknown } | undefined)?.body;
      const job =
        body && typeof body === 'object' ? { ...body, leadId: id } : { type: 'mail', kind, leadId: id };
      const failed = Date.parse(meta.failedAt);
      letters.push({
        key: `${kind}:${id}`,
        kind: meta.kind.slice(0, 40),
        lead_id: id,
        reason: meta.reason.slice(0, 300),
        attempts: meta.attempts,
        failed_at: Number.isFinite(failed) ? failed : ctx.now,
        body: JSON.stringify(job),
      });
    }
  }
  const found = await insertRows(ctx, { rows, sends, letters, suppressions });
  for (const id of mapped) {
    if (found.leads.has(id)) c.lead.moved += 1;
    else c.lead.missing += 1;
  }
  c.sent.moved += found.sends;
  c.sent.missing += sends.length - found.sends;
  c.dlq.moved += found.letters;
  c.dlq.missing += letters.length - found.letters;
  return next;
}

/** Markers and dead letters whose lead record is gone (erased or purged) are not moved. */
async function countOrphans(ctx: Ctx, kind: 'sent' | 'dlq', cursor?: string): Promise<string | undefined> {
  const prefix = L.LEGACY_PREFIXES[kind];
  const { keys, next } = await list(ctx, prefix, PAGE, cursor);
  ctx.counts[kind].seen += keys.length;
  const parts = keys.map((k) => k.name.slice(prefix.length).split(':'));
  const withLead = parts.filter(
    ([k, id]) => (L.LEGACY_MAIL_KINDS as readonly string[]).includes(k) && /^[0-9a-f]{64}$/.test(id ?? ''),
  );
  const records = await bulk(
    ctx,
    withLead.map(([, id]) => L.LEGACY_PREFIXES.lead + id),
  );
  ctx.counts[kind].skipped += withLead.filter(
    ([, id]) => records.get(L.LEGACY_PREFIXES.lead + id) == null,
  ).length;
  if (kind === 'dlq') {
    // Dead letters of other jobs (fan-out, invalid messages) name no lead: moved as they are.
    const other = keys.filter((_, i) => !withLead.includes(parts[i]));
    const values = await bulk(
      ctx,
      other.map((k) => k.name),
    );
    const letters = other.map((k) => {
      const meta = v.parse(
        L.LegacyDeadLetter,
        v.is(v.record(v.string(), v.unknown()), k.metadata) ? k.metadata : {},
      );
      const failed = Date.parse(meta.failedAt);
      return {
        key: k.name.slice(prefix.length).slice(0, 100),
        kind: meta.kind.slice(0, 40),
        lead_id: null,
        reason: meta.reason.slice(0, 300),
        attempts: meta.attempts,
        failed_at: Number.isFinite(failed) ? failed : ctx.now,
        body: JSON.stringify((json(values.get(k.name)) as { body?: unknown } | undefined)?.body ?? null),
      };
    });
    const found = await insertRows(ctx, { letters });
    ctx.counts.dlq.moved += found.letters;
    ctx.counts.dlq.missing += letters.length - found.letters;
  }
  return next;
}

async function copySimple(ctx: Ctx, kind: 'suppressed' | 'fanout' | 'audit' | 'devoutbox', cursor?: string) {
  const prefix = L.LEGACY_PREFIXES[kind];
  const { keys, next } = await list(ctx, prefix, PAGE, cursor);
  const c = ctx.counts[kind];
  c.seen += keys.length;
  if (kind === 'devoutbox') {
    // Local development mail only (a day's worth at most): deleted, never moved.
    c.skipped += keys.length;
    return next;
  }
  const meta = (k: (typeof keys)[number]) => (k.metadata ?? undefined) as unknown;
  if (kind === 'suppressed') {
    const suppressions = keys.map((k) => {
      const m = v.safeParse(L.LegacySuppression, meta(k));
      const at = m.success && m.output.at ? Date.parse(m.output.at) : ctx.now;
      // The address is gone: the legacy id is the entry (registerLead checks it as well).
      return { mailbox: k.name.slice(prefix.length), at, by: m.success ? m.output.by : 'ops' };
    });
    const found = await insertRows(ctx, { suppressions });
    c.moved += found.suppressions;
    c.missing += suppressions.length - found.suppressions;
  } else if (kind === 'fanout') {
    const values = await bulk(
      ctx,
      keys.map((k) => k.name),
    );
    const fanouts = keys.flatMap((k) => {
      const [reminder, start] = k.name.slice(prefix.length).split(':');
      const s = v.safeParse(L.LegacyFanout, json(values.get(k.name)));
      if (!s.success || !Number.isInteger(Number(start)) || !reminder) return [];
      const at = Date.parse(s.output.at);
      // A run that was still going is taken over by the next cron run (lease 0).
      return [
        {
          kind: reminder,
          start_ms: Number(start),
          status: s.output.status,
          enqueued: s.output.enqueued,
          updated_at: Number.isFinite(at) ? at : ctx.now,
        },
      ];
    });
    c.skipped += keys.length - fanouts.length;
    const found = await insertRows(ctx, { fanouts });
    c.moved += found.fanouts;
    c.missing += fanouts.length - found.fanouts;
  } else {
    const audit = keys.flatMap((k) => {
      const e = v.safeParse(L.LegacyAudit, meta(k));
      if (!e.success) return [];
      const detail = { ...e.output.detail, kvKey: k.name.slice(prefix.length) };
      return [
        {
          at: Date.parse(e.output.t),
          role: e.output.role,
          actor: e.output.id,
          action: e.output.action,
          detail: JSON.stringify(detail),
          key: detail.kvKey,
        },
      ];
    });
    c.skipped += keys.length - audit.length;
    const found = await insertRows(ctx, { audit });
    c.moved += found.audit;
    c.missing += audit.length - found.audit;
  }
  return next;
}

/** The live config version: adopted from KV's `config:current` unless D1 has its own. */
async function copyPointer(ctx: Ctx): Promise<undefined> {
  const hadKv = (await ctx.env.CONTENT.get('config:current')) !== null;
  ctx.ops += 2;
  ctx.pointer = await readPointer(ctx.env.DB, ctx.env.CONTENT, ctx.now);
  ctx.counts.config.seen += hadKv ? 1 : 0;
  ctx.counts.config.moved += hadKv ? 1 : 0;
  return undefined;
}

export async function runPhase(ctx: Ctx, phase: Phase, cursor?: string): Promise<string | undefined> {
  switch (phase) {
    case 'lead':
      return copyLeads(ctx, cursor);
    case 'sent':
    case 'dlq':
      return countOrphans(ctx, phase, cursor);
    case 'draw':
      return copyDraws(ctx, cursor);
    case 'config':
      return copyPointer(ctx);
    default:
      return copySimple(ctx, phase, cursor);
  }
}
