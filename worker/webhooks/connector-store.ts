/**
 * Settings of the Brevo connector and the leads it has added there (tables
 * `connector_settings`, `connector_contacts` in migrations/0002_webhooks.sql). The API key
 * is not here: it is the wrangler secret BREVO_API_KEY.
 */
import type { BrevoAttributes } from '../../src/lib/webhooks';

export const BREVO = 'brevo';

/**
 * Attribute names used when ops have not chosen others. FIRSTNAME is Brevo's own; the
 * three DOI fields are created once in Brevo as text attributes (README, "Brevo").
 */
export const DEFAULT_BREVO_ATTRIBUTES: BrevoAttributes = {
  firstName: 'FIRSTNAME',
  doiAt: 'DOI_CONFIRMED_AT',
  doiIp: 'DOI_IP',
  doiTextVersion: 'DOI_TEXT_VERSION',
};

export interface BrevoSettings {
  enabled: boolean;
  listId: number | null;
  attributes: BrevoAttributes;
}

export async function getBrevoSettings(db: D1Database): Promise<BrevoSettings> {
  const row = await db
    .prepare('SELECT enabled, list_id, attributes FROM connector_settings WHERE name = ?1')
    .bind(BREVO)
    .first<{ enabled: number; list_id: number | null; attributes: string }>();
  if (!row) return { enabled: false, listId: null, attributes: { ...DEFAULT_BREVO_ATTRIBUTES } };
  let stored: Partial<BrevoAttributes> = {};
  try {
    stored = JSON.parse(row.attributes) as Partial<BrevoAttributes>;
  } catch {
    // An unreadable row falls back to the defaults; saving again repairs it.
  }
  return {
    enabled: row.enabled === 1,
    listId: row.list_id,
    attributes: { ...DEFAULT_BREVO_ATTRIBUTES, ...stored },
  };
}

export async function saveBrevoSettings(
  db: D1Database,
  settings: BrevoSettings,
  opts: { by: string; nowMs: number },
): Promise<void> {
  await db
    .prepare(
      `INSERT INTO connector_settings (name, enabled, list_id, attributes, updated_at, updated_by)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6)
       ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, list_id = excluded.list_id,
         attributes = excluded.attributes, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
    )
    .bind(
      BREVO,
      settings.enabled ? 1 : 0,
      settings.listId,
      JSON.stringify(settings.attributes),
      opts.nowMs,
      opts.by.slice(0, 254),
    )
    .run();
}

/**
 * Remembers that the lead is now a contact in Brevo, but only while the lead still
 * exists. False means it was erased while the contact was being added: the caller then
 * removes the contact again.
 */
export async function rememberContact(db: D1Database, leadId: string, nowMs: number): Promise<boolean> {
  const row = await db
    .prepare(
      `INSERT INTO connector_contacts (connector, lead_id, synced_at)
       SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM leads WHERE id = ?2)
       ON CONFLICT (connector, lead_id) DO UPDATE SET synced_at = excluded.synced_at
       RETURNING lead_id`,
    )
    .bind(BREVO, leadId, nowMs)
    .first();
  return row !== null;
}

export async function forgetContact(db: D1Database, leadId: string): Promise<void> {
  await db
    .prepare('DELETE FROM connector_contacts WHERE connector = ?1 AND lead_id = ?2')
    .bind(BREVO, leadId)
    .run();
}

/**
 * Whether the lead still wants the newsletter right now: it exists, and its newsletter
 * consent is confirmed and not withdrawn. Checked again before a contact is added, as
 * events are unordered: a late `lead.confirmed` must not undo a later unsubscribe.
 */
export async function wantsNewsletter(db: D1Database, leadId: string): Promise<boolean> {
  const row = await db
    .prepare(
      `SELECT 1 AS x FROM leads l WHERE l.id = ?1 AND l.status = 'confirmed' AND EXISTS (
         SELECT 1 FROM consents c WHERE c.lead_id = l.id AND c.kind = 'newsletter' AND c.status = 'confirmed')`,
    )
    .bind(leadId)
    .first();
  return row !== null;
}
