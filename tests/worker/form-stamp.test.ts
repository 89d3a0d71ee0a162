/** The plain form's signed render time and attack-mode question (worker/abuse/form-stamp.ts). */
import { describe, expect, it } from 'vitest';
import {
  answerFits,
  checkStamp,
  formStamp,
  MIN_FILL_MS,
  pickQuestion,
  QUESTIONS,
} from '../../worker/abuse/form-stamp';

const SECRET = 'test-lead-key-secret-0123456789abcdef';
const T = Date.UTC(2026, 11, 1, 12, 0, 0);

describe('form stamps', () => {
  it('accept a stamp once the visitor had time to fill in the form', async () => {
    const stamp = await formStamp(SECRET, T, null);
    expect(await checkStamp(SECRET, stamp, T + MIN_FILL_MS)).toEqual({
      ok: true,
      renderedAtMs: T,
      question: null,
    });
    const asked = await formStamp(SECRET, T, 2);
    expect(await checkStamp(SECRET, asked, T + 60_000)).toMatchObject({ ok: true, question: 2 });
  });

  it('send a post back that came within 3 seconds of the render', async () => {
    const stamp = await formStamp(SECRET, T, null);
    expect(await checkStamp(SECRET, stamp, T + MIN_FILL_MS - 1)).toEqual({ ok: false, reason: 'too_fast' });
  });

  it('refuse a missing, altered, forged, future or stale stamp', async () => {
    const stamp = await formStamp(SECRET, T, null);
    const earlier = stamp.replace(String(T), String(T - 60_000));
    expect(await checkStamp(SECRET, undefined, T + 10_000)).toEqual({ ok: false, reason: 'missing' });
    expect(await checkStamp(SECRET, earlier, T + 10_000)).toEqual({ ok: false, reason: 'invalid' });
    expect(await checkStamp(SECRET, stamp.replace('.-.', '.1.'), T + 10_000)).toEqual({
      ok: false,
      reason: 'invalid',
    });
    expect(
      await checkStamp(SECRET, await formStamp('another-secret-0123456789abcdef', T, null), T + 10_000),
    ).toEqual({
      ok: false,
      reason: 'invalid',
    });
    expect(await checkStamp(SECRET, await formStamp(SECRET, T + 60_000, null), T)).toEqual({
      ok: false,
      reason: 'stale',
    });
    expect(await checkStamp(SECRET, stamp, T + 3 * 86_400_000)).toEqual({ ok: false, reason: 'stale' });
    for (const junk of ['x', `${T}.-.`, `${T}.99.${'0'.repeat(32)}`, 42, {}])
      expect((await checkStamp(SECRET, junk, T + 10_000)).ok).toBe(false);
  });
});

describe('attack-mode questions', () => {
  it('accept each question answer in digits or words, case and spaces aside', () => {
    QUESTIONS.forEach((q, i) => {
      for (const a of q.answers) {
        expect(answerFits(i, a)).toBe(true);
        expect(answerFits(i, ` ${a.toUpperCase()}. `)).toBe(true);
      }
      expect(answerFits(i, 'falsch')).toBe(false);
      expect(answerFits(i, undefined)).toBe(false);
    });
  });

  it('vary with the render time', () => {
    const picked = new Set(Array.from({ length: 20 }, (_, i) => pickQuestion(T + i * 1000)));
    expect(picked.size).toBe(QUESTIONS.length);
  });
});
