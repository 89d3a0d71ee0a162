/**
 * Budgets for confirmation mails (issue 12): at most MAIL_PER_ADDRESS_24H per canonical
 * mailbox in 24 h (then nothing more is sent: list bombing a stranger stops there), at most
 * MAIL_PER_DOMAIN_HOURLY per recipient domain an hour (the big mailbox providers are
 * exempt, they are shared by millions) and MAIL_GLOBAL_HOURLY in total an hour, derived
 * from the account's sending limit. Over the last two a mail waits for the next window;
 * reminders and the welcome mail are never held back by them, so they go first.
 * Counted exactly in D1 when a send is claimed (worker/store/mail-sends.ts).
 */
import type { Lead } from '../store/lead-store';
import type { SendBudget } from '../store/mail-sends';
import { normaliseEmail } from '../../src/lib/email';

/** Shared by millions of people: a per-domain cap would only hurt real visitors. */
export const BIG_PROVIDERS = new Set([
  'gmail.com',
  'googlemail.com',
  'outlook.com',
  'hotmail.com',
  'yahoo.com',
  'icloud.com',
  'gmx.de',
  'web.de',
  't-online.de',
]);

/** How long a paced mail waits before it tries again. */
export const PACE_DELAY_S = 300;

function positive(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 ? n : fallback;
}

export interface BudgetVars {
  MAIL_PER_ADDRESS_24H?: string;
  MAIL_PER_DOMAIN_HOURLY?: string;
  MAIL_GLOBAL_HOURLY?: string;
}

/** The budget a confirmation to this lead must fit. */
export function confirmationBudget(lead: Lead, env: BudgetVars): SendBudget {
  const normal = normaliseEmail(lead.email);
  const domain = normal.slice(normal.lastIndexOf('@') + 1);
  return {
    mailbox: lead.mailbox,
    domain,
    perAddress24h: positive(env.MAIL_PER_ADDRESS_24H, 3),
    perDomainHourly: BIG_PROVIDERS.has(domain) ? null : positive(env.MAIL_PER_DOMAIN_HOURLY, 200),
    globalHourly: positive(env.MAIL_GLOBAL_HOURLY, 1000),
  };
}
