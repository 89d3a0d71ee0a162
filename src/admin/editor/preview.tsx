/**
 * The draft as visitors would see it, rendered by the worker (POST /api/admin/preview)
 * and shown at phone (390 px) and desktop (1366 px) width. The frames are sandboxed
 * without `allow-scripts` and without `allow-forms`: the preview can neither run the
 * page's script nor submit a registration. `allow-same-origin` only lets the frame load
 * our own CSS and photos (CORP same-origin); without scripts it grants nothing else.
 */
import { For, Show } from 'solid-js';

export const PREVIEW_WIDTHS = [
  { label: 'Smartphone', width: 390, height: 844 },
  { label: 'Desktop', width: 1366, height: 800 },
] as const;

export function PreviewPanel(props: {
  html: string | null;
  busy: boolean;
  error: string;
  onRefresh: () => void;
  disabled: boolean;
}) {
  return (
    <section class="card" aria-labelledby="sec-preview">
      <h2 id="sec-preview">Vorschau</h2>
      <p class="hint">
        Zeigt den Entwurf genau so, wie Besucher ihn sehen würden. Veröffentlicht wird dabei nichts.
      </p>
      <button
        type="button"
        class="secondary"
        onClick={() => props.onRefresh()}
        disabled={props.busy || props.disabled}
      >
        {props.busy ? 'Vorschau wird erstellt …' : 'Vorschau aktualisieren'}
      </button>
      <Show when={props.error}>
        <p class="error" role="alert">
          {props.error}
        </p>
      </Show>
      <Show when={props.html}>
        {(html) => (
          <div class="previews">
            <For each={PREVIEW_WIDTHS}>
              {(size) => (
                <figure class="preview">
                  <figcaption>
                    {size.label} ({size.width} px)
                  </figcaption>
                  <div class="preview-scroll">
                    <iframe
                      title={`Vorschau ${size.label}, ${size.width} Pixel breit`}
                      sandbox="allow-same-origin"
                      width={size.width}
                      height={size.height}
                      srcdoc={html()}
                    />
                  </div>
                </figure>
              )}
            </For>
          </div>
        )}
      </Show>
    </section>
  );
}
