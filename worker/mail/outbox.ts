/**
 * The local development outbox: with DEV_OUTBOX="1" (set only in .dev.vars), every mail
 * the consumer sends is also kept in D1 (`dev_outbox`), so a developer can click through
 * the double opt-in without a mail account. Rows older than a day are deleted in the same
 * batch as each insert.
 *
 * Why not workerd's files: locally the `send_email` binding writes each mail to a temp
 * file on the host and logs the path, but a worker has no file system access to the host,
 * so it cannot list them (docs/decisions/043-dev-outbox.md).
 */

/** Dev mails are kept for a day. */
export const OUTBOX_RETENTION_MS = 86_400_000;
export const OUTBOX_MAX_LIMIT = 200;

export interface OutboxMail {
  to: string;
  subject: string;
  text: string;
  html: string;
  sentAt: string;
  /** `confirm` for every double opt-in confirmation, else `welcome`, a reminder kind or `replay`. */
  kind: string;
  headers: Record<string, string>;
  /** File names of the attachments. */
  attachments: string[];
}

/** A mail as the outbox route answers it: with every link it holds. */
export interface OutboxEntry extends OutboxMail {
  links: string[];
}

/**
 * True only when the development outbox is switched on, and never in production
 * (`ENVIRONMENT` from wrangler.toml): a deployment that inherited `DEV_OUTBOX` by mistake
 * must not keep every mail (addresses, names, personal links) in D1.
 */
export function outboxEnabled(env: { DEV_OUTBOX?: string; ENVIRONMENT?: string }): boolean {
  return env.DEV_OUTBOX === '1' && env.ENVIRONMENT !== 'production';
}

/** Keeps one sent mail and drops those older than a day, in one transaction. */
export async function recordOutbox(db: D1Database, mail: OutboxMail): Promise<void> {
  const at = Date.parse(mail.sentAt);
  const sentAt = Number.isFinite(at) ? at : Date.now();
  await db.batch([
    db.prepare('DELETE FROM dev_outbox WHERE sent_at < ?1').bind(sentAt - OUTBOX_RETENTION_MS),
    db
      .prepare(
        `INSERT INTO dev_outbox (sent_at, kind, recipient, subject, text, html, headers, attachments)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)`,
      )
      .bind(
        sentAt,
        mail.kind,
        mail.to,
        mail.subject,
        mail.text,
        mail.html,
        JSON.stringify(mail.headers),
        JSON.stringify(mail.attachments),
      ),
  ]);
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** The text of an HTML attribute value (named and numeric character references). */
function attributeText(value: string): string {
  return value.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (ref, name: string) => {
    if (name[0] !== '#') return ENTITIES[name.toLowerCase()] ?? ref;
    const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : Number(name.slice(1));
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : ref;
  });
}

/**
 * Every link of a mail as a full URL, in order of first appearance: the `href`s of the
 * HTML part and the http(s) addresses in the text part, each once.
 */
export function linksOf(mail: Pick<OutboxMail, 'text' | 'html'>): string[] {
  const found: string[] = [];
  for (const m of mail.html.matchAll(/\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi))
    found.push(attributeText(m[1] ?? m[2] ?? m[3]).trim());
  for (const m of mail.text.matchAll(/https?:\/\/[^\s<>"]+/g)) found.push(m[0]);
  const out = new Set<string>();
  for (const link of found) {
    if (!URL.canParse(link)) continue;
    out.add(new URL(link).href);
  }
  return [...out];
}

interface OutboxRow {
  sent_at: number;
  kind: string;
  recipient: string;
  subject: string;
  text: string;
  html: string;
  headers: string;
  attachments: string;
}

function parsed<T>(json: string, fallback: T): T {
  try {
    return JSON.parse(json) as T;
  } catch {
    return fallback;
  }
}

/** Newest first, at most `limit` (1 to 200), sent within the last day. */
export async function listOutbox(db: D1Database, limit: number, nowMs = Date.now()): Promise<OutboxEntry[]> {
  const { results } = await db
    .prepare('SELECT * FROM dev_outbox WHERE sent_at >= ?1 ORDER BY sent_at DESC, id DESC LIMIT ?2')
    .bind(nowMs - OUTBOX_RETENTION_MS, Math.min(Math.max(limit, 1), OUTBOX_MAX_LIMIT))
    .all<OutboxRow>();
  return results.map((r) => {
    const mail: OutboxMail = {
      to: r.recipient,
      subject: r.subject,
      text: r.text,
      html: r.html,
      sentAt: new Date(r.sent_at).toISOString(),
      kind: r.kind,
      headers: parsed<Record<string, string>>(r.headers, {}),
      attachments: parsed<string[]>(r.attachments, []),
    };
    return { ...mail, links: linksOf(mail) };
  });
}
