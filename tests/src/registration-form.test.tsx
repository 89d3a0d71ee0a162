import { cleanup, fireEvent, render, screen, waitFor } from '@solidjs/testing-library';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RegistrationForm, type RegistrationFormProps } from '../../src/components/registration-form';

const props: RegistrationFormProps = {
  mode: 'register',
  heading: 'Sichern Sie sich Ihren kostenlosen Platz',
  submitLabel: 'Jetzt kostenlos anmelden',
  privacyLabel: 'Ich habe die Datenschutzhinweise gelesen.',
  giveawayLabel: 'Ich möchte am Gewinnspiel teilnehmen und akzeptiere die Teilnahmebedingungen.',
  newsletterLabel: 'Ich möchte den Newsletter erhalten.',
  giveawayOpen: true,
  thankYouHeading: 'Fast geschafft – bitte bestätigen Sie Ihre E-Mail-Adresse',
  thankYouText: 'Wir haben Ihnen eine E-Mail geschickt.',
  calendar: {
    ics: '/webinar.ics',
    google: 'https://calendar.google.com/x',
    outlook: 'https://outlook.live.com/x',
  },
};

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

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
    expect(f.email.type).toBe('email');
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
    const fetch = vi.spyOn(globalThis, 'fetch');
    const f = setup();
    await f.user.type(f.email, 'anna@beispiel.de');
    await f.user.click(f.submit);
    expect(fetch).not.toHaveBeenCalled();
    expect(screen.getByRole('alert').textContent).toBe('Bitte korrigieren Sie die markierten Angaben.');
    expect(
      screen.getByText('Bitte bestätigen Sie, dass Sie die Datenschutzhinweise gelesen haben.'),
    ).toBeTruthy();
    expect(document.activeElement).toBe(f.privacy);
  });

  it('sends JSON, disables the button while sending and shows the thank-you state with calendar links', async () => {
    let release!: (r: Response) => void;
    const fetch = vi
      .spyOn(globalThis, 'fetch')
      .mockImplementation(() => new Promise<Response>((resolve) => (release = resolve)));
    const f = setup();
    await f.user.type(f.email, 'Anna@Beispiel.de');
    await f.user.type(f.firstName, 'Anna');
    await f.user.click(f.privacy);
    await f.user.click(f.giveaway!);
    await f.user.click(f.submit);
    expect((f.submit as HTMLButtonElement).disabled).toBe(true);
    expect(f.submit.textContent).toBe('Wird gesendet …');
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe('/api/register');
    expect(JSON.parse(String(init!.body))).toMatchObject({
      email: 'Anna@Beispiel.de',
      firstName: 'Anna',
      privacy: true,
      giveaway: true,
      newsletter: false,
      website: '',
    });
    release(json(200, { ok: true }));
    const heading = await screen.findByRole('heading', { name: props.thankYouHeading });
    expect(document.activeElement).toBe(heading);
    expect(screen.getByRole('status').textContent).toBe(props.thankYouHeading);
    expect(screen.getByRole('link', { name: 'Google Kalender' }).getAttribute('href')).toBe(
      props.calendar!.google,
    );
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
    await screen.findByRole('heading', { name: props.thankYouHeading }, { timeout: 4000 });
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
    const fetch = vi
      .spyOn(globalThis, 'fetch')
      .mockImplementation(async () =>
        json(503, { ok: false, errors: { form: 'x' } }, { 'retry-after': '1' }),
      );
    const f = setup();
    await f.user.type(f.email, 'anna@beispiel.de');
    await f.user.click(f.privacy);
    await f.user.click(f.submit);
    await waitFor(() => expect(screen.getByRole('alert').textContent).toMatch(/Angaben bleiben erhalten/), {
      timeout: 4000,
    });
    expect(fetch).toHaveBeenCalledTimes(2);
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
    await screen.findByText('Bitte geben Sie Ihre E-Mail-Adresse ein.');
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
    expect(screen.getByRole('alert').textContent).toBe('Bitte korrigieren Sie die markierten Angaben.');
  });

  it('reads UTM parameters from the address bar', async () => {
    window.history.replaceState(null, '', '/?utm_source=newsletter&utm_medium=email');
    const fetch = vi.spyOn(globalThis, 'fetch').mockResolvedValue(json(200, { ok: true }));
    const f = setup();
    await f.user.type(f.email, 'anna@beispiel.de');
    await f.user.click(f.privacy);
    fireEvent.submit(f.submit.closest('form')!);
    await waitFor(() => expect(fetch).toHaveBeenCalled());
    expect(JSON.parse(String(fetch.mock.calls[0][1]!.body))).toMatchObject({
      utm_source: 'newsletter',
      utm_medium: 'email',
    });
  });
});

describe('RegistrationForm before hydration', () => {
  it('sends what is in the fields even when the visitor filled them without the component noticing', async () => {
    const fetch = vi.spyOn(globalThis, 'fetch').mockResolvedValue(json(200, { ok: true }));
    const f = setup();
    // As on a slow phone: typed and ticked before the island was hydrated, no events seen.
    f.email.value = 'frueh@beispiel.de';
    f.privacy.checked = true;
    f.newsletter.checked = true;
    fireEvent.submit(f.submit.closest('form')!);
    await waitFor(() => expect(fetch).toHaveBeenCalled());
    expect(JSON.parse(String(fetch.mock.calls[0][1]!.body))).toMatchObject({
      email: 'frueh@beispiel.de',
      privacy: true,
      newsletter: true,
      giveaway: false,
    });
    cleanup();
  });
});
