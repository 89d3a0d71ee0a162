/**
 * The editor's newer sections in happy-dom with a fake API: agenda, FAQ, logo and the
 * registration count, each validated with the schema's German messages at the field and
 * published as part of the config.
 */
import { cleanup, fireEvent, render, screen, waitFor, within } from '@solidjs/testing-library';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { WebinarConfig } from '../../src/lib/webinar-config';
import { ConfigEditor } from '../../src/admin/editor/marketing-app';
import { CONFIG, fakeApi, messageFor, publishButton } from './editor-helpers';

beforeEach(() => localStorage.clear());
afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

const section = (name: string) => screen.getByRole('region', { name });
const published = (api: ReturnType<typeof fakeApi>) =>
  (api.publish.mock.calls[0] as unknown as [number, WebinarConfig])[1];

describe('agenda', () => {
  it('adds an item, explains a wrong time in German at the field and publishes the fixed item', async () => {
    const api = fakeApi();
    render(() => <ConfigEditor api={api} />);
    const agenda = await screen.findByRole('region', { name: 'Ablauf' });
    const before = CONFIG.agenda.items.length;
    fireEvent.click(within(agenda).getByRole('button', { name: 'Programmpunkt hinzufügen' }));
    const times = within(agenda).getAllByLabelText('Uhrzeit') as HTMLInputElement[];
    expect(times).toHaveLength(before + 1);
    const time = times[before];
    fireEvent.input(time, { target: { value: '21 Uhr' } });
    expect(time.getAttribute('aria-invalid')).toBe('true');
    expect(messageFor(time)).toBe('Die Uhrzeit braucht das Format HH:MM, z. B. 19:30.');
    expect(publishButton().disabled).toBe(true);

    fireEvent.input(time, { target: { value: '21:15' } });
    const titles = within(agenda).getAllByLabelText('Programmpunkt') as HTMLInputElement[];
    fireEvent.input(titles[before], { target: { value: 'Verlosung' } });
    expect(publishButton().disabled).toBe(false);
    fireEvent.click(publishButton());
    await waitFor(() => expect(api.publish).toHaveBeenCalled());
    expect(published(api).agenda.items[before]).toEqual({ time: '21:15', title: 'Verlosung' });
  });

  it('can be emptied, which hides the section on the page', async () => {
    const api = fakeApi();
    render(() => <ConfigEditor api={api} />);
    const agenda = await screen.findByRole('region', { name: 'Ablauf' });
    for (let i = CONFIG.agenda.items.length; i > 0; i--)
      fireEvent.click(within(agenda).getByRole('button', { name: `Entfernen: Programmpunkt ${i}` }));
    fireEvent.click(publishButton());
    await waitFor(() => expect(api.publish).toHaveBeenCalled());
    expect(published(api).agenda.items).toEqual([]);
  });
});

describe('FAQ', () => {
  it('flags an empty answer and publishes question and answer', async () => {
    const api = fakeApi();
    render(() => <ConfigEditor api={api} />);
    const faq = await screen.findByRole('region', { name: 'Häufige Fragen' });
    fireEvent.click(within(faq).getByRole('button', { name: 'Frage hinzufügen' }));
    const n = CONFIG.faq.items.length;
    const answer = within(faq).getAllByLabelText('Antwort')[n];
    fireEvent.input(within(faq).getAllByLabelText('Frage')[n], { target: { value: 'Wie lange dauert es?' } });
    expect(messageFor(answer)).toBe('Die Antwort darf nicht leer sein.');
    fireEvent.input(answer, { target: { value: 'Etwa zweieinhalb Stunden.' } });
    fireEvent.click(publishButton());
    await waitFor(() => expect(api.publish).toHaveBeenCalled());
    expect(published(api).faq.items[n]).toEqual({
      question: 'Wie lange dauert es?',
      answer: 'Etwa zweieinhalb Stunden.',
    });
  });
});

describe('logo and registration count', () => {
  it('uploads the logo drawn by the browser and puts its hash and size into the draft', async () => {
    const api = fakeApi();
    const prepareLogo = vi.fn(async () => ({
      blob: new Blob(['logo-webp'], { type: 'image/webp' }),
      width: 300,
      height: 96,
    }));
    render(() => <ConfigEditor api={api} prepareLogo={prepareLogo} />);
    await screen.findByRole('region', { name: 'Logo und Anmeldezahl' });
    const input = screen.getByLabelText('Logo (optional)') as HTMLInputElement;
    Object.defineProperty(input, 'files', {
      value: [new File(['x'], 'logo.png', { type: 'image/png' })],
      configurable: true,
    });
    fireEvent.change(input);
    const img = (await screen.findByAltText(
      `Aktuelles Logo von ${CONFIG.legal.company}`,
    )) as HTMLImageElement;
    expect(img.getAttribute('width')).toBe('150');
    fireEvent.click(publishButton());
    await waitFor(() => expect(api.publish).toHaveBeenCalled());
    expect(published(api).logo).toEqual({ hash: 'a'.repeat(64), width: 300, height: 96 });
  });

  it('switches the count on with a minimum, and refuses a negative minimum', async () => {
    const api = fakeApi();
    render(() => <ConfigEditor api={api} />);
    const brand = await screen.findByRole('region', { name: 'Logo und Anmeldezahl' });
    fireEvent.click(within(brand).getByLabelText('„Bereits N Anmeldungen“ zeigen'));
    const minimum = within(brand).getByLabelText('Erst ab so vielen Anmeldungen zeigen') as HTMLInputElement;
    fireEvent.input(minimum, { target: { value: '-1' } });
    expect(messageFor(minimum)).toBe('Die Mindestzahl muss mindestens 0 betragen.');
    fireEvent.input(minimum, { target: { value: '250' } });
    fireEvent.click(publishButton());
    await waitFor(() => expect(api.publish).toHaveBeenCalled());
    expect(published(api).registrationCount).toEqual({ show: true, minimum: 250 });
  });

  it('edits a draft from before these sections existed without losing anything', async () => {
    const old = structuredClone(CONFIG) as Partial<WebinarConfig>;
    delete old.agenda;
    delete old.faq;
    delete old.registrationCount;
    const api = fakeApi({ version: 3, config: old as WebinarConfig });
    render(() => <ConfigEditor api={api} />);
    const agenda = await screen.findByRole('region', { name: 'Ablauf' });
    fireEvent.click(within(agenda).getByRole('button', { name: 'Programmpunkt hinzufügen' }));
    fireEvent.input(within(agenda).getByLabelText('Uhrzeit'), { target: { value: '19:00' } });
    fireEvent.input(within(agenda).getByLabelText('Programmpunkt'), { target: { value: 'Beginn' } });
    fireEvent.click(publishButton());
    await waitFor(() => expect(api.publish).toHaveBeenCalled());
    expect(published(api).agenda).toEqual({ heading: 'Ablauf', items: [{ time: '19:00', title: 'Beginn' }] });
    expect(section('Logo und Anmeldezahl')).toBeTruthy();
  });
});

describe('share image', () => {
  const png = (name: string) => new Blob([`png-of-${name}-long-enough`], { type: 'image/png' });

  it('draws and uploads a new one on publish when title or date changed, and reuses it otherwise', async () => {
    const api = fakeApi();
    const renderShareImage = vi.fn(async (text: { title: string }) => png(text.title));
    render(() => <ConfigEditor api={api} renderShareImage={renderShareImage} />);
    await screen.findByRole('region', { name: 'Webinar' });
    fireEvent.input(document.getElementById('f-webinar-title')!, { target: { value: 'Neuer Titel' } });
    fireEvent.click(publishButton());
    await screen.findByText(/Version 4 ist veröffentlicht/);
    expect(renderShareImage).toHaveBeenCalledWith(expect.objectContaining({ title: 'Neuer Titel' }));
    const first = published(api);
    expect(first.seo.shareImage).toBe('a'.repeat(64));

    fireEvent.input(screen.getByLabelText('Text des Anmeldeknopfs'), { target: { value: 'Jetzt anmelden' } });
    fireEvent.click(publishButton());
    await waitFor(() => expect(api.publish).toHaveBeenCalledTimes(2));
    expect(renderShareImage).toHaveBeenCalledTimes(1);
    const second = (api.publish.mock.calls[1] as unknown as [number, WebinarConfig])[1];
    expect(second.seo.shareImage).toBe(first.seo.shareImage);
  });

  it('still publishes when the image cannot be drawn, and says the old one stays', async () => {
    const api = fakeApi();
    const renderShareImage = vi.fn(async () => {
      throw new Error('no canvas');
    });
    render(() => <ConfigEditor api={api} renderShareImage={renderShareImage} />);
    await screen.findByRole('region', { name: 'Webinar' });
    fireEvent.input(document.getElementById('f-webinar-title')!, { target: { value: 'Anderer Titel' } });
    fireEvent.click(publishButton());
    await screen.findByText(/Vorschaubild für geteilte Links konnte nicht erneuert werden/);
    expect(api.publish).toHaveBeenCalledTimes(1);
  });
});
