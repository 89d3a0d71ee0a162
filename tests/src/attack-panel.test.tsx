/** The ops panel "Schutz vor Bots" in happy-dom with a fake API. */
import { cleanup, fireEvent, render, screen, waitFor } from '@solidjs/testing-library';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AttackPanel } from '../../src/admin/ops/attack-panel';

const session = { role: 'ops' as const, roles: ['ops' as const], id: 'token:ops', csrf: 'csrf-value' };
const hour = (iso: string, over: object = {}) => ({
  hour: iso,
  accepted: 0,
  refused: { challenge: 0, honeypot: 0, too_fast: 0, rate_limit: 0, form_fields: 0, question: 0 },
  mailsSent: 0,
  mailsPaced: 0,
  ...over,
});

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

function fakeApi() {
  let on = false;
  const puts: unknown[] = [];
  vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const url = String(input);
    if (url === '/api/admin/attack-mode' && init?.method === 'PUT') {
      puts.push({ body: JSON.parse(String(init.body)), csrf: new Headers(init.headers).get('X-CSRF-Token') });
      on = JSON.parse(String(init.body)).on;
      return new Response(JSON.stringify({ ok: true, on, by: 'ops', since: Date.now() }));
    }
    return new Response(
      JSON.stringify({
        ok: true,
        hours: [
          hour('2026-12-04T18:00:00.000Z', {
            accepted: 12,
            refused: { ...hour('').refused, challenge: 340 },
            mailsSent: 9,
            mailsPaced: 3,
          }),
          hour('2026-12-04T17:00:00.000Z'),
        ],
        attackMode: { on, by: 'ops', since: on ? Date.now() : 0, threshold: 500 },
      }),
    );
  });
  return puts;
}

describe('AttackPanel', () => {
  it('shows the hours with activity and switches attack mode with the CSRF header', async () => {
    const puts = fakeApi();
    render(() => <AttackPanel session={session} />);
    const table = await screen.findByRole('table', { name: /je Stunde/ });
    expect(table.querySelectorAll('tbody tr')).toHaveLength(1);
    expect(table.textContent).toContain('340');
    const button = screen.getByRole('button', { name: 'Angriffsmodus einschalten' });
    expect(button.getAttribute('aria-pressed')).toBe('false');
    fireEvent.click(button);
    await waitFor(() =>
      expect(screen.getByRole('status').textContent).toBe('Angriffsmodus ist eingeschaltet.'),
    );
    expect(puts).toEqual([{ body: { on: true }, csrf: 'csrf-value' }]);
    await screen.findByRole('button', { name: 'Angriffsmodus ausschalten' });
  });
});
