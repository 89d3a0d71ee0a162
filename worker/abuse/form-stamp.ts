/**
 * The plain form's proof of having been read (visitors without JavaScript, issue 12): the
 * page's form carries a hidden `renderedAt`, a signed stamp of the render time (and, in
 * attack mode, of which question it asked). A post less than MIN_FILL_MS after the render
 * is a bot's, or a visitor's accidental double submit: it gets the form back and stores
 * nothing. A post without a valid stamp stores nothing either.
 *
 * Stamp: `<render ms>.<question index or ->.<HMAC prefix>`, HMAC-SHA256 under a key
 * derived from LEAD_KEY_SECRET. Stateless: nothing is stored per page view.
 */
import { hmacHex } from '../crypto';

/** A person needs longer than this to fill in the form. */
export const MIN_FILL_MS = 3_000;
/** A page left open longer than this is stale: the visitor gets a fresh form. */
export const MAX_AGE_MS = 2 * 86_400_000;
/** Clocks of two isolates may differ a little. */
const SKEW_MS = 5_000;

/** Short German questions for attack mode; answers compared without case and spaces. */
export const QUESTIONS: readonly { text: string; answers: readonly string[] }[] = [
  { text: 'Wie viel ist drei plus vier? (Bitte als Zahl)', answers: ['7', 'sieben'] },
  { text: 'Wie viele Tage hat eine Woche? (Bitte als Zahl)', answers: ['7', 'sieben'] },
  { text: 'Welche Farbe hat Schnee?', answers: ['weiß', 'weiss'] },
  { text: 'Wie viel ist zehn minus zwei? (Bitte als Zahl)', answers: ['8', 'acht'] },
  { text: 'Wie heißt die Hauptstadt von Deutschland?', answers: ['berlin'] },
];

const sign = (secret: string, payload: string) => hmacHex(secret, `form-stamp-v1:${payload}`);

/** The stamp for a form rendered at `renderedAtMs`, asking question `question` (or none). */
export async function formStamp(
  secret: string,
  renderedAtMs: number,
  question: number | null,
): Promise<string> {
  const payload = `${renderedAtMs}.${question ?? '-'}`;
  return `${payload}.${(await sign(secret, payload)).slice(0, 32)}`;
}

/** A question for this render (varies with the time, so bots cannot learn one answer). */
export function pickQuestion(renderedAtMs: number): number {
  return Math.floor(renderedAtMs / 1000) % QUESTIONS.length;
}

export type StampCheck =
  | { ok: true; renderedAtMs: number; question: number | null }
  | { ok: false; reason: 'missing' | 'invalid' | 'too_fast' | 'stale' };

/** Checks a posted stamp's signature and age. */
export async function checkStamp(secret: string, raw: unknown, nowMs: number): Promise<StampCheck> {
  if (typeof raw !== 'string' || raw === '') return { ok: false, reason: 'missing' };
  const m = /^(\d{13})\.(\d{1,2}|-)\.([0-9a-f]{32})$/.exec(raw);
  if (!m) return { ok: false, reason: 'invalid' };
  const expected = (await sign(secret, `${m[1]}.${m[2]}`)).slice(0, 32);
  // Both are hex of the same length; a difference anywhere makes the stamp invalid.
  let diff = 0;
  for (let i = 0; i < 32; i++) diff |= expected.charCodeAt(i) ^ m[3].charCodeAt(i);
  if (diff !== 0) return { ok: false, reason: 'invalid' };
  const renderedAtMs = Number(m[1]);
  const question = m[2] === '-' ? null : Number(m[2]);
  if (question !== null && question >= QUESTIONS.length) return { ok: false, reason: 'invalid' };
  if (renderedAtMs > nowMs + SKEW_MS || nowMs - renderedAtMs > MAX_AGE_MS)
    return { ok: false, reason: 'stale' };
  if (nowMs - renderedAtMs < MIN_FILL_MS) return { ok: false, reason: 'too_fast' };
  return { ok: true, renderedAtMs, question };
}

/** Whether an answer fits the question (case, spaces and a trailing dot ignored). */
export function answerFits(question: number, answer: unknown): boolean {
  if (typeof answer !== 'string' || answer.length > 40) return false;
  const a = answer.trim().toLowerCase().replace(/\s+/g, '').replace(/\.$/, '');
  return QUESTIONS[question].answers.includes(a);
}

/**
 * What the landing page's plain form needs per response: a fresh stamp and, in attack
 * mode, the question (its index is signed into the stamp).
 */
export async function plainFormSlots(
  secret: string,
  attack: boolean,
  nowMs: number,
): Promise<{ stamp: string; question?: string }> {
  const question = attack ? pickQuestion(nowMs) : null;
  return {
    stamp: await formStamp(secret, nowMs, question),
    ...(question !== null ? { question: QUESTIONS[question].text } : {}),
  };
}
