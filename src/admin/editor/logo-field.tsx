/**
 * The host's logo: pick a file, the browser scales it to 96 px height (photo.ts), it is
 * uploaded, and the config gets its hash and size. Errors are German and specific.
 */
import { createSignal, Show } from 'solid-js';
import type { Logo } from '../../lib/webinar-config';
import { errorAt, fieldId, type FieldErrors } from './validation';

/** Turns a picked file into a stored logo; throws with a German message. */
export type UploadLogo = (file: File) => Promise<Logo>;

export function LogoField(props: {
  errors: FieldErrors;
  logo: Logo | undefined;
  company: string;
  upload: UploadLogo;
  onChange: (logo: Logo | undefined) => void;
}) {
  const [status, setStatus] = createSignal('');
  const [error, setError] = createSignal('');
  const [busy, setBusy] = createSignal(false);
  const id = fieldId('logo');
  const message = () => error() || errorAt(props.errors, 'logo', true);

  async function pick(input: HTMLInputElement) {
    const file = input.files?.[0];
    if (!file) return;
    setError('');
    setStatus('Logo wird verarbeitet und hochgeladen …');
    setBusy(true);
    try {
      props.onChange(await props.upload(file));
      setStatus('Logo hochgeladen.');
    } catch (e) {
      setStatus('');
      setError(e instanceof Error && e.message ? e.message : 'Das Logo konnte nicht hochgeladen werden.');
    } finally {
      setBusy(false);
      input.value = '';
    }
  }

  return (
    <div class="field photo" classList={{ invalid: !!message() }}>
      <label for={id}>Logo (optional)</label>
      <p class="hint" id={`${id}-hint`}>
        JPEG, PNG oder WebP bis 10 MB; erscheint oben auf der Seite, 48 Pixel hoch. Ohne Logo hat die Seite
        keine Kopfleiste.
      </p>
      <div class="row">
        <Show when={props.logo}>
          {(logo) => (
            <img
              class="logo-thumb"
              src={`/media/${logo().hash}`}
              width={Math.round(logo().width / 2)}
              height={Math.round(logo().height / 2)}
              alt={`Aktuelles Logo von ${props.company}`}
            />
          )}
        </Show>
        <input
          id={id}
          type="file"
          accept="image/jpeg,image/png,image/webp"
          disabled={busy()}
          aria-invalid={message() ? 'true' : undefined}
          aria-describedby={`${id}-hint${message() ? ` ${id}-error` : ''}`}
          onChange={(e) => pick(e.currentTarget)}
        />
        <Show when={props.logo}>
          <button type="button" class="secondary" onClick={() => props.onChange(undefined)}>
            Logo entfernen
          </button>
        </Show>
      </div>
      <p class="hint" role="status">
        {status()}
      </p>
      <Show when={message()}>
        <p class="error field-error" id={`${id}-error`} role="alert">
          {message()}
        </p>
      </Show>
    </div>
  );
}
