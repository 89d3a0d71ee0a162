import { cleanup, fireEvent, render, screen, waitFor, within } from '@solidjs/testing-library';
import userEvent from '@testing-library/user-event';
import { createChallenge, verifySolution } from 'altcha-lib/v1';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  FORM_MESSAGES,
  RegistrationForm,
  type RegistrationFormProps,
} from '../../src/components/registration-form';

const THANK_YOU = 'Fast geschafft – bitte bestätigen Sie Ihre E-Mail-Adresse';
const GOOGLE = 'https://calendar.google.com/x';

// What the worker hands over (worker/render.tsx, formProps); the HTML parts as it renders them.
const props: RegistrationFormProps = {
  submitLabel: 'Jetzt kostenlos anmelden',
  labels: {
    privacy:
      'Ich habe die Datenschutzhinweise gelesen. <a href="/datenschutz">Datenschutzhinweise</a><span class="req"> (Pflichtfeld)</span>',
    giveaway: 'Ich möchte am Gewinnspiel teilnehmen und akzeptiere die Teilnahmebedingungen.',
    newsletter: 'Ich möchte den Newsletter erhalten.',
  },
  giveawayOpen: true,
  configVersion: 3,
  stamp: 'stamp-from-the-worker',
  messages: FORM_MESSAGES,
  thanksHtml: `<h3 tabindex="-1">${THANK_YOU}</h3><p>Wir haben Ihnen eine E-Mail geschickt.</p><a class="btn" href="/webinar.ics">Apple / Outlook (.ics)</a><a class="btn" href="${GOOGLE}">Google Kalender</a>`,
};

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

/**
 * fetch as the worker answers it: the proof-of-work challenge from the server library
 * (cheapest cost), everything else from `register`.
 */
function spyFetch(register: (init?: RequestInit) => Promise<Response>) {
  return vi
    .spyOn(globalThis, 'fetch')
    .mockImplementation(async (input, init) =>
      String(input) === '/api/register/challenge'
        ? json(200, await createChallenge({ hmacKey: 'test-key-0123456789', maxNumber: 10 }))
        : register(init),
    );
}
/** The registrations among the calls (the challenge request left out). */
const registerCalls = (spy: ReturnType<typeof spyFetch>) =>
  spy.mock.calls.filter(([url]) => String(url) === '/api/register');

// No test reaches a real server: the challenge request the form makes when it gets focus
// is answered here unless a test answers it itself.
beforeEach(() => {
  spyFetch(async () => json(500, { ok: false, errors: { form: 'not expected in this test' } }));
});

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

function setup(overrides: Partial<RegistrationFormProps> = {}) {
  const user = userEvent.setup();
  render(() => <RegistrationForm {...props} {...overrides} />);
  return {
    user,
    email: screen.getByLabelText(/E-Mail-Adresse/) as HTMLInputElement,
    firstName: screen.getByLabelText(/Vorname/) as HTMLInputElement,
    privacy: screen.getByRole('checkbox', { name: /Datenschutzhinweise/ }) as HTMLInputElement,
    giveaway: screen.queryByRole('checkbox', { name: /Gewinnspiel/ }) as HTMLInputElement | null,
    newsletter: screen.getByRole('checkbox', { name: /Newsletter/ }) as HTMLInputElement,
    submit: screen.getByRole('button', { name: 'Jetzt kostenlos anmelden' }),
  };
}

describe('RegistrationForm', () => {
  it('labels every field and leaves every optional box unticked', () => {
    const f = setup();
    expect(f.email.required).toBe(true);
    // Text, not type=email: Chromium would hand an umlaut domain over in punycode.
    expect(f.email.inputMode).toBe('email');
    expect(f.email.autocomplete).toBe('email');
    expect(f.privacy.checked).toBe(false);
    expect(f.giveaway!.checked).toBe(false);
    expect(f.newsletter.checked).toBe(false);
  });

  it('says what is wrong with the email when the visitor leaves the field', async () => {
    const f = setup();
    await f.user.type(f.email, 'anna@');
    await f.user.tab();
    const message = 'Bitte geben Sie eine gültige E-Mail-Adresse ein, z. B. name@beispiel.de.';
    expect(screen.getByText(message)).toBeTruthy();
    expect(f.email.getAttribute('aria-invalid')).toBe('true');
    expect(f.email.getAttribute('aria-describedby')).toBe('email-error');
    expect(document.getElementById('email-error')!.textContent).toBe(message);
  });

  it('clears the message once the email is corrected', async () => {
    const f = setup();
    await f.user.type(f.email, 'anna@');
    await f.user.tab();
    await f.user.click(f.email);
    await f.user.type(f.email, 'beispiel.de');
    expect(f.email.getAttribute('aria-invalid')).toBeNull();
    expect(document.getElementById('email-error')!.hidden).toBe(true);
  });

  it('rejects a first name containing a link', async () => {
    const f = setup();
    await f.user.type(f.firstName, 'www.spam.ru');
    await f.user.tab();
    expect(screen.getByText('Bitte geben Sie nur Ihren Vornamen ein, ohne Links.')).toBeTruthy();
  });

  it('on submit without consent: sends nothing, announces the problem and focuses the first invalid field', async () => {
    const fetch = spyFetch(async () => json(200, { ok: true }));
    const f = setup();
    await f.user.type(f.email, 'anna@beispiel.de');
    await f.user.click(f.submit);
    expect(registerCalls(fetch)).toHaveLength(0);
    const alert = screen.getByRole('alert');
    expect(alert.textContent).toMatch(/^Bitte korrigieren Sie:/);
    const link = within(alert).getByRole('link', {
      name: 'Bitte bestätigen Sie, dass Sie die Datenschutzhinweise gelesen haben.',
    });
    expect(link.getAttribute('href')).toBe('#reg-privacy');
    expect(document.getElementById('privacy-error')!.textContent).toBe(link.textContent);
    expect(document.activeElement).toBe(f.privacy);
  });

  it('sends JSON, disables the button while sending and shows the thank-you state with calendar links', async () => {
    let release!: (r: Response) => void;
    const fetch = spyFetch(() => new Promise<Response>((resolve) => (release = resolve)));
    const f = setup();
    await f.user.type(f.email, 'Anna@Beispiel.de');
    await f.user.type(f.firstName, 'Anna');
    await f.user.click(f.privacy);
    await f.user.click(f.giveaway!);
    await f.user.click(f.submit);
    expect((f.submit as HTMLButtonElement).disabled).toBe(true);
    expect(f.submit.textContent).toBe('Wird gesendet …');
    await waitFor(() => expect(registerCalls(fetch)).toHaveLength(1));
    const [, init] = registerCalls(fetch)[0];
    const sent = JSON.parse(String(init!.body));
    // The proof of work went with it, solved in the background, and the server library accepts it.
    expect(await verifySolution(sent.altcha, 'test-key-0123456789')).toBe(true);
    expect(sent).toMatchObject({
      email: 'Anna@Beispiel.de',
      firstName: 'Anna',
      privacy: true,
      giveaway: true,
      newsletter: false,
      website: '',
    });
    release(json(200, { ok: true }));
    const heading = await screen.findByRole('heading', { name: THANK_YOU });
    expect(document.activeElement).toBe(heading);
    expect(screen.getByRole('link', { name: 'Google Kalender' }).getAttribute('href')).toBe(GOOGLE);
    expect(screen.getByRole('link', { name: /\.ics/ }).getAttribute('href')).toBe('/webinar.ics');
  });

  it('retries once by itself after a network error', async () => {
    const fetch = vi
      .spyOn(globalThis, 'fetch')
      .mockRejectedValueOnce(new TypeError('Failed to fetch'))
      .mockResolvedValueOnce(json(200, { ok: true }));
    const f = setup();
    await f.user.type(f.email, 'anna@beispiel.de');
    await f.user.click(f.privacy);
    await f.user.click(f.submit);
    await screen.findByRole('heading', { name: THANK_YOU }, { timeout: 4000 });
    expect(fetch).toHaveBeenCalledTimes(2);
  });

  it('keeps the input and says so when the network fails twice', async () => {
    vi.spyOn(globalThis, 'fetch').mockRejectedValue(new TypeError('Failed to fetch'));
    const f = setup();
    await f.user.type(f.email, 'anna@beispiel.de');
    await f.user.click(f.privacy);
    await f.user.click(f.submit);
    await waitFor(() => expect(screen.getByRole('alert').textContent).toMatch(/Keine Verbindung/), {
      timeout: 4000,
    });
    expect(f.email.value).toBe('anna@beispiel.de');
    expect((f.submit as HTMLButtonElement).disabled).toBe(false);
  });

  it('retries a 503 once after Retry-After, then tells the visitor their input is kept', async () => {
    const fetch = spyFetch(async () =>
      json(503, { ok: false, errors: { form: 'x' } }, { 'retry-after': '1' }),
    );
    const f = setup();
    await f.user.type(f.email, 'anna@beispiel.de');
    await f.user.click(f.privacy);
    await f.user.click(f.submit);
    await waitFor(() => expect(screen.getByRole('alert').textContent).toMatch(/Angaben bleiben erhalten/), {
      timeout: 4000,
    });
    expect(registerCalls(fetch)).toHaveLength(2);
    expect(f.email.value).toBe('anna@beispiel.de');
  });

  it('shows server-side field errors at their fields', async () => {
    vi.spyOn(globalThis, 'fetch').mockResolvedValue(
      json(400, { ok: false, errors: { email: 'Bitte geben Sie Ihre E-Mail-Adresse ein.' } }),
    );
    const f = setup();
    await f.user.type(f.email, 'anna@beispiel.de');
    await f.user.click(f.privacy);
    await f.user.click(f.submit);
    await waitFor(() =>
      expect(document.getElementById('email-error')!.textContent).toBe(
        'Bitte geben Sie Ihre E-Mail-Adresse ein.',
      ),
    );
    expect(f.email.getAttribute('aria-invalid')).toBe('true');
    expect(document.activeElement).toBe(f.email);
  });

  it('tells the visitor to wait on 429', async () => {
    vi.spyOn(globalThis, 'fetch').mockResolvedValue(
      json(429, { ok: false, errors: {} }, { 'retry-after': '60' }),
    );
    const f = setup();
    await f.user.type(f.email, 'anna@beispiel.de');
    await f.user.click(f.privacy);
    await f.user.click(f.submit);
    await waitFor(() => expect(screen.getByRole('alert').textContent).toMatch(/Zu viele Anmeldeversuche/));
  });

  it('does not offer the giveaway after its deadline', () => {
    const f = setup({ giveawayOpen: false });
    expect(f.giveaway).toBeNull();
  });

  it('shows errors from a failed plain form post with the values kept', () => {
    setup({
      values: { email: 'anna@', privacy: false, newsletter: true },
      errors: { email: 'Bitte geben Sie eine gültige E-Mail-Adresse ein, z. B. name@beispiel.de.' },
    });
    expect((screen.getByLabelText(/E-Mail-Adresse/) as HTMLInputElement).value).toBe('anna@');
    expect((screen.getByRole('checkbox', { name: /Newsletter/ }) as HTMLInputElement).checked).toBe(true);
    expect(screen.getByRole('alert').textContent).toBe(
      'Bitte korrigieren Sie:Bitte geben Sie eine gültige E-Mail-Adresse ein, z. B. name@beispiel.de.',
    );
  });

  it('shrinks the list of problems as the visitor fixes them, and drops it when all are fixed', async () => {
    const f = setup();
    await f.user.type(f.email, 'anna@');
    await f.user.click(f.submit);
    const alert = screen.getByRole('alert');
    expect(within(alert).getAllByRole('listitem')).toHaveLength(2);

    await f.user.click(f.privacy);
    expect(
      within(alert)
        .getAllByRole('listitem')
        .map((li) => li.textContent),
    ).toEqual(['Bitte geben Sie eine gültige E-Mail-Adresse ein, z. B. name@beispiel.de.']);

    await f.user.type(f.email, 'beispiel.de');
    expect(alert.hidden).toBe(true);
    expect(alert.textContent).not.toMatch(/Bitte geben Sie/);
  });

  it('holds back the message of a field left by a press until the press is released', async () => {
    // A message appearing between press and release moves what is under the pointer, so
    // the release would land elsewhere and the tap on the privacy box would be lost.
    const f = setup();
    await f.user.type(f.email, 'max.mustermann@gmail');
    fireEvent.pointerDown(f.privacy);
    fireEvent.blur(f.email);
    await new Promise((r) => setTimeout(r, 120));
    expect(document.getElementById('email-error')!.hidden).toBe(true);
    fireEvent.pointerUp(f.privacy);
    await waitFor(() => expect(document.getElementById('email-error')!.hidden).toBe(false));
    expect(document.getElementById('email-error')!.textContent).toMatch(/gültige E-Mail-Adresse/);
  });
});

describe('RegistrationForm before hydration', () => {
  it('sends what is in the fields even when the visitor filled them without the component noticing', async () => {
    const fetch = spyFetch(async () => json(200, { ok: true }));
    const f = setup();
    // As on a slow phone: typed and ticked before the island was hydrated, no events seen.
    f.email.value = 'frueh@beispiel.de';
    f.privacy.checked = true;
    f.newsletter.checked = true;
    fireEvent.submit(f.submit.closest('form')!);
    await waitFor(() => expect(registerCalls(fetch)).toHaveLength(1));
    expect(JSON.parse(String(registerCalls(fetch)[0][1]!.body))).toMatchObject({
      email: 'frueh@beispiel.de',
      privacy: true,
      newsletter: true,
      giveaway: false,
    });
    cleanup();
  });
});
