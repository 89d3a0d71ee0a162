/**
 * The content editor in happy-dom with a fake API: German messages at the field as the
 * marketer types, publish blocked while invalid, 409 shown as "reload", the draft kept
 * in localStorage across a reload, the corrupt-version warning, photo errors.
 */
import { cleanup, fireEvent, render, screen, waitFor } from '@solidjs/testing-library';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { WebinarConfig } from '../../src/lib/webinar-config';
import { CONFIG, fakeApi, messageFor, publishButton } from './editor-helpers';
import { DRAFT_KEY } from '../../src/admin/editor/draft-storage';
import { ConfigEditor } from '../../src/admin/editor/marketing-app';

const nameInputs = () => screen.getAllByLabelText('Name') as HTMLInputElement[];
beforeEach(() => localStorage.clear());
afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

describe('ConfigEditor validation', () => {
  it('shows a German message at an emptied speaker name, marks it invalid and blocks publishing', async () => {
    render(() => <ConfigEditor api={fakeApi()} />);
    await waitFor(() => expect(nameInputs()).toHaveLength(6));
    const input = nameInputs()[2];
    expect(input.value).toBe('Prof. Dr. Werner Patzelt');
    expect(publishButton().disabled).toBe(false);

    fireEvent.input(input, { target: { value: '  ' } });

    expect(input.getAttribute('aria-invalid')).toBe('true');
    expect(messageFor(input)).toBe('Der Name darf nicht leer sein.');
    expect(publishButton().disabled).toBe(true);
    expect(screen.getByText(/Ein Feld ist ungültig/)).toBeTruthy();

    fireEvent.input(input, { target: { value: 'Werner Patzelt' } });
    expect(input.getAttribute('aria-invalid')).toBeNull();
    expect(publishButton().disabled).toBe(false);
  });

  it('reports a too short duration and a non-https link with the schema messages', async () => {
    render(() => <ConfigEditor api={fakeApi()} />);
    const duration = (await screen.findByLabelText('Dauer in Minuten')) as HTMLInputElement;
    fireEvent.input(duration, { target: { value: '5' } });
    expect(messageFor(duration)).toBe('Die Dauer muss mindestens 15 Minuten betragen.');
    const site = screen.getByLabelText('Adresse der Seite') as HTMLInputElement;
    fireEvent.input(site, { target: { value: 'http://example.com' } });
    expect(messageFor(site)).toBe('Die Adresse der Seite muss mit https:// beginnen.');
    expect(screen.getByText(/2 Felder sind ungültig/)).toBeTruthy();
  });

  it('adds a speaker with empty required fields flagged, and removing it makes the form valid again', async () => {
    render(() => <ConfigEditor api={fakeApi()} />);
    await waitFor(() => expect(nameInputs()).toHaveLength(6));
    fireEvent.click(screen.getByRole('button', { name: 'Referent hinzufügen' }));
    expect(nameInputs()).toHaveLength(7);
    expect(nameInputs()[6].getAttribute('aria-invalid')).toBe('true');
    expect(publishButton().disabled).toBe(true);
    fireEvent.click(screen.getByRole('button', { name: 'Entfernen: Referent 7' }));
    expect(nameInputs()).toHaveLength(6);
    expect(publishButton().disabled).toBe(false);
  });

  it('moves a speaker down and keeps focus on it', async () => {
    render(() => <ConfigEditor api={fakeApi()} />);
    await waitFor(() => expect(nameInputs()).toHaveLength(6));
    fireEvent.click(screen.getByRole('button', { name: 'Nach unten: Dominik Kettner' }));
    expect(
      nameInputs()
        .map((i) => i.value)
        .slice(0, 2),
    ).toEqual(['Dieter Bohlen', 'Dominik Kettner']);
    // Focus follows the moved speaker, so pressing the button again keeps moving it.
    expect(document.activeElement?.getAttribute('aria-label')).toBe('Nach unten: Dominik Kettner');
  });
});

describe('ConfigEditor publishing', () => {
  it('publishes the draft on the loaded base version and announces the new version', async () => {
    const api = fakeApi();
    render(() => <ConfigEditor api={api} />);
    await waitFor(() => expect(nameInputs()).toHaveLength(6));
    fireEvent.input(nameInputs()[1], { target: { value: 'Heino' } });
    fireEvent.click(publishButton());
    await screen.findByText(/Version 4 ist veröffentlicht/);
    expect(api.publish).toHaveBeenCalledTimes(1);
    const [base, config] = api.publish.mock.calls[0] as unknown as [number, WebinarConfig];
    expect(base).toBe(3);
    expect(config.speakers[1].name).toBe('Heino');
    expect(localStorage.getItem(DRAFT_KEY)).toBeNull();
  });

  it('shows a 409 as "someone else published – please reload" and offers a reload', async () => {
    const api = fakeApi();
    api.publish.mockResolvedValueOnce({ kind: 'conflict', message: 'egal' });
    render(() => <ConfigEditor api={api} />);
    await waitFor(() => expect(nameInputs()).toHaveLength(6));
    fireEvent.input(nameInputs()[0], { target: { value: 'Jemand' } });
    fireEvent.click(publishButton());
    await screen.findByText('Jemand anderes hat inzwischen veröffentlicht – bitte neu laden.');
    expect(publishButton().disabled).toBe(true);
    fireEvent.click(screen.getByRole('button', { name: 'Neu laden (Entwurf verwerfen)' }));
    await waitFor(() => expect(nameInputs()[0].value).toBe('Dominik Kettner'));
    expect(api.load).toHaveBeenCalledTimes(2);
  });

  it('shows server field errors at the field', async () => {
    const api = fakeApi();
    api.publish.mockResolvedValueOnce({
      kind: 'invalid',
      message: 'Einige Angaben sind ungültig.',
      errors: { 'speakers.0.role': 'Die Rolle ist auf dem Server ungültig.' },
    });
    render(() => <ConfigEditor api={api} />);
    await waitFor(() => expect(nameInputs()).toHaveLength(6));
    fireEvent.click(publishButton());
    const role = screen.getAllByLabelText('Rolle')[0];
    await waitFor(() => expect(messageFor(role)).toBe('Die Rolle ist auf dem Server ungültig.'));
    // Typing anywhere clears the server's verdict; the browser's own check takes over.
    fireEvent.input(role, { target: { value: 'Gastgeber' } });
    expect(messageFor(role)).toBeUndefined();
  });
});

describe('ConfigEditor draft and warnings', () => {
  it('keeps the draft in localStorage and restores it after a reload', async () => {
    const first = render(() => <ConfigEditor api={fakeApi()} />);
    await waitFor(() => expect(nameInputs()).toHaveLength(6));
    fireEvent.input(nameInputs()[3], { target: { value: 'Entwurfsname' } });
    expect(JSON.parse(localStorage.getItem(DRAFT_KEY)!).baseVersion).toBe(3);
    first.unmount();

    render(() => <ConfigEditor api={fakeApi()} />);
    await waitFor(() => expect(nameInputs()[3]?.value).toBe('Entwurfsname'));
    expect(screen.getByText(/Entwurf wurde wiederhergestellt/)).toBeTruthy();
  });

  it('does not silently apply a draft based on an older version', async () => {
    localStorage.setItem(
      DRAFT_KEY,
      JSON.stringify({ baseVersion: 1, config: { ...CONFIG, cta: 'Alter Entwurf' }, savedAt: '' }),
    );
    render(() => <ConfigEditor api={fakeApi()} />);
    await screen.findByText('Älterer Entwurf gefunden');
    expect((screen.getByLabelText('Text des Anmeldeknopfs') as HTMLInputElement).value).toBe(CONFIG.cta);
    fireEvent.click(screen.getByRole('button', { name: 'Älteren Entwurf trotzdem übernehmen' }));
    expect((screen.getByLabelText('Text des Anmeldeknopfs') as HTMLInputElement).value).toBe('Alter Entwurf');
  });

  it('warns when the current published version is corrupt', async () => {
    render(() => (
      <ConfigEditor api={fakeApi({ version: 2, fallbackFrom: 3, config: structuredClone(CONFIG) })} />
    ));
    const alert = await screen.findByText(/Version 3 ist beschädigt/);
    expect(alert.textContent).toContain('sie sehen Version 2');
  });

  it('rolls back after a confirmation step', async () => {
    const api = fakeApi();
    render(() => <ConfigEditor api={api} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Version 2 wiederherstellen' }));
    expect(api.rollback).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole('button', { name: 'Ja, wiederherstellen' }));
    await screen.findByText('Version 2 wurde als Version 4 wiederhergestellt.');
    expect(api.rollback).toHaveBeenCalledWith(2, 3);
  });
});

describe('ConfigEditor photos', () => {
  it('refuses a PDF with a German message and uploads nothing', async () => {
    const api = fakeApi();
    render(() => <ConfigEditor api={api} />);
    await waitFor(() => expect(nameInputs()).toHaveLength(6));
    const file = new File(['%PDF-1.4'], 'lebenslauf.pdf', { type: 'application/pdf' });
    const input = document.getElementById('f-speakers-0-photo') as HTMLInputElement;
    Object.defineProperty(input, 'files', { value: [file], configurable: true });
    fireEvent.change(input);
    await screen.findByText('Bitte wählen Sie ein Bild im Format JPEG, PNG oder WebP.');
    expect(api.uploadMedia).not.toHaveBeenCalled();
  });

  it('refuses an image over 10 MB', async () => {
    render(() => <ConfigEditor api={fakeApi()} />);
    await waitFor(() => expect(nameInputs()).toHaveLength(6));
    const big = new File([new Uint8Array(10 * 1024 * 1024 + 1)], 'gross.jpg', { type: 'image/jpeg' });
    const input = document.getElementById('f-speakers-0-photo') as HTMLInputElement;
    Object.defineProperty(input, 'files', { value: [big], configurable: true });
    fireEvent.change(input);
    await screen.findByText('Das Bild ist größer als 10 MB. Bitte wählen Sie eine kleinere Datei.');
  });

  it('uploads both widths and puts the photo into the draft', async () => {
    const api = fakeApi();
    const preparePhoto = vi.fn(async () => ({
      large: new Blob(['large-webp'], { type: 'image/webp' }),
      small: new Blob(['s'], { type: 'image/webp' }),
    }));
    render(() => <ConfigEditor api={api} preparePhoto={preparePhoto} />);
    await waitFor(() => expect(nameInputs()).toHaveLength(6));
    const input = document.getElementById('f-speakers-1-photo') as HTMLInputElement;
    Object.defineProperty(input, 'files', {
      value: [new File(['x'], 'foto.png', { type: 'image/png' })],
      configurable: true,
    });
    fireEvent.change(input);
    const img = (await screen.findByAltText('Aktuelles Foto von Dieter Bohlen')) as HTMLImageElement;
    expect(img.getAttribute('src')).toBe(`/media/${'b'.repeat(64)}`);
    expect(api.uploadMedia).toHaveBeenCalledTimes(2);
    fireEvent.click(publishButton());
    await waitFor(() => expect(api.publish).toHaveBeenCalled());
    const config = (api.publish.mock.calls[0] as unknown as [number, WebinarConfig])[1];
    expect(config.speakers[1].photo).toEqual({ hash: 'a'.repeat(64), smallHash: 'b'.repeat(64) });
  });
});
