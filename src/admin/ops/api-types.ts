/**
 * Shapes of the ops API answers, shared by the worker (worker/routes/admin-ops.ts) and
 * the ops dashboard. Types only: nothing here ships in a bundle.
 */

export type LeadStatusName = 'pending' | 'confirmed' | 'unsubscribed';

export interface OpsStats {
  ok: true;
  total: number;
  byStatus: Record<LeadStatusName, number>;
  /** confirmed ÷ (all leads), 0 when there are none. */
  confirmationRate: number;
  giveawayEntries: number;
  newsletter: number;
  /** Registrations per calendar day in Europe/Berlin, oldest first, days without leads included. */
  perDay: { day: string; count: number }[];
  /** Per `utm_source` (`''` = none), most leads first. */
  perSource: { source: string; count: number; confirmed: number }[];
  /** Records that could not be read (left out of every number): always 0 since D1 enforces the schema. */
  skipped: number;
  generatedAt: string;
}

export interface AuditEntryView {
  t: string;
  role: string;
  id: string;
  action: string;
  detail?: Record<string, string | number | boolean>;
}

/** A winner: contact data only while the lead exists (an erased winner shows the id alone). */
export interface DrawWinner {
  leadId: string;
  email?: string;
  firstName?: string;
}

/** A draw as `/api/admin/giveaway/draw(s)` answer it (worker/giveaway-draw.ts). */
export interface DrawRecord {
  id: string;
  /** One series per giveaway deadline: its first draw is seq 1, each redraw the next. */
  seriesId: string;
  seq: number;
  at: string;
  by: string;
  winnersRequested: number;
  eligibleCount: number;
  /** sha256 (hex) of the eligible lead ids, sorted, joined with "\n". */
  eligibleHash: string;
  deadline: string;
  winners: DrawWinner[];
  redraw?: { reason: string; replaces: string };
}
