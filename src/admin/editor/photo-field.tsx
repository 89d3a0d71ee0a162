/**
 * A speaker's photo: pick a file, the browser crops and resizes it (photo.ts), both
 * widths are uploaded, and the config gets their hashes. Errors are German and specific.
 */
import { createSignal, Show } from 'solid-js';
import type { WebinarConfig } from '../../lib/webinar-config';
import { errorAt, fieldId, type FieldErrors } from './validation';

export type SpeakerPhoto = NonNullable<WebinarConfig['speakers'][number]['photo']>;
/** Turns a picked file into stored media; throws with a German message. */
export type UploadPhoto = (file: File) => Promise<SpeakerPhoto>;

export function PhotoField(props: {
  path: string;
  errors: FieldErrors;
  speakerName: string;
  photo: SpeakerPhoto | undefined;
  upload: UploadPhoto;
  onChange: (photo: SpeakerPhoto | undefined) => void;
}) {
  const [status, setStatus] = createSignal('');
  const [error, setError] = createSignal('');
  const [busy, setBusy] = createSignal(false);
  const id = () => fieldId(props.path);
  const message = () => error() || errorAt(props.errors, props.path, true);

  async function pick(input: HTMLInputElement) {
    const file = input.files?.[0];
    if (!file) return;
    setError('');
    setStatus('Foto wird verarbeitet und hochgeladen …');
    setBusy(true);
    try {
      props.onChange(await props.upload(file));
      setStatus('Foto hochgeladen.');
    } catch (e) {
      setStatus('');
      setError(e instanceof Error && e.message ? e.message : 'Das Foto konnte nicht hochgeladen werden.');
    } finally {
      setBusy(false);
      input.value = '';
    }
  }

  return (
    <div class="field photo" classList={{ invalid: !!message() }}>
      <label for={id()}>Foto</label>
      <p class="hint" id={`${id()}-hint`}>
        JPEG, PNG oder WebP bis 10 MB; wird quadratisch zugeschnitten.
      </p>
      <div class="row">
        <Show when={props.photo}>
          {(photo) => (
            <img
              class="photo-thumb"
              src={`/media/${photo().smallHash}`}
              width="80"
              height="80"
              alt={`Aktuelles Foto von ${props.speakerName || 'diesem Referenten'}`}
            />
          )}
        </Show>
        <input
          id={id()}
          type="file"
          accept="image/jpeg,image/png,image/webp"
          disabled={busy()}
          aria-invalid={message() ? 'true' : undefined}
          aria-describedby={`${id()}-hint${message() ? ` ${id()}-error` : ''}`}
          onChange={(e) => pick(e.currentTarget)}
        />
        <Show when={props.photo}>
          <button
            type="button"
            class="secondary"
            aria-label={`Foto entfernen: ${props.speakerName}`}
            onClick={() => props.onChange(undefined)}
          >
            Foto entfernen
          </button>
        </Show>
      </div>
      <p class="hint" role="status">
        {status()}
      </p>
      <Show when={message()}>
        <p class="error field-error" id={`${id()}-error`} role="alert">
          {message()}
        </p>
      </Show>
    </div>
  );
}
