/**
 * The marketing area of the admin: the content editor. Loads the live config, keeps an
 * editable draft (saved in localStorage as the marketer types), validates it with the
 * shared WebinarConfig schema on every keystroke, previews it at phone and desktop
 * width, publishes it (409 → "someone else published, reload") and lists the history
 * with rollback. Rendered by src/admin/entry.tsx for role `marketing`; never part of the
 * visitor bundle.
 */
import { createEffect, createMemo, createSignal, For, onMount, Show } from 'solid-js';
import { createStore, produce, reconcile } from 'solid-js/store';
import type { WebinarConfig } from '../../lib/webinar-config';
import type { AdminSession } from '../sign-in';
import { httpApi, uploadPhotoPair, type EditorApi, type HistoryEntry, type LiveState } from './api';
import { ConfigForm, type Path } from './config-form';
import { clearDraft, loadDraft, saveDraft, type StoredDraft } from './draft-storage';
import { HistoryPanel } from './history';
import { prepareLogo as prepareLogoInBrowser, preparePhoto as preparePhotoInBrowser } from './photo';
import type { UploadLogo } from './logo-field';
import type { ShareImageText } from '../../lib/share-image';
import { refreshShareImage, renderShareImage } from './share-upload';
import type { UploadPhoto } from './photo-field';
import { PreviewPanel } from './preview';
import { fieldId, validateDraft, type FieldErrors } from './validation';
import './editor.css';

export const EDITOR_MESSAGES = {
  conflict: 'Jemand anderes hat inzwischen veröffentlicht – bitte neu laden.',
  published: (n: number) =>
    `Version ${n} ist veröffentlicht. Die Seite zeigt sie innerhalb weniger Sekunden.`,
  rolledBack: (from: number, n: number) => `Version ${from} wurde als Version ${n} wiederhergestellt.`,
  invalidCount: (n: number) =>
    n === 1
      ? 'Ein Feld ist ungültig. Veröffentlichen ist erst möglich, wenn alles gültig ist.'
      : `${n} Felder sind ungültig. Veröffentlichen ist erst möglich, wenn alles gültig ist.`,
  loadFailed: 'Die Inhalte konnten nicht geladen werden.',
} as const;

const clone = <T,>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Sets `value` at `path` inside `target`, creating nothing: paths come from the form. */
function setIn(target: Record<string | number, any>, path: Path, value: unknown) {
  let node = target;
  for (const key of path.slice(0, -1)) node = node[key];
  const last = path[path.length - 1];
  if (value === undefined) delete node[last];
  else node[last] = value;
}

/** Moves focus to the input for an error path (or its closest existing parent field). */
function focusField(path: string) {
  const parts = path.split('.');
  while (parts.length) {
    const el = document.getElementById(fieldId(parts.join('.')));
    if (el) {
      el.focus();
      return;
    }
    parts.pop();
  }
}

export interface ConfigEditorProps {
  api: EditorApi;
  storage?: Storage;
  /** Browser crop/resize; replaced in DOM tests, which have no canvas. */
  preparePhoto?: (file: File) => Promise<{ large: Blob; small: Blob }>;
  prepareLogo?: (file: File) => Promise<{ blob: Blob; width: number; height: number }>;
  /** Draws the share image; replaced in DOM tests, which have no canvas. */
  renderShareImage?: (text: ShareImageText) => Promise<Blob>;
}

export function ConfigEditor(props: ConfigEditorProps) {
  const storage = () => props.storage ?? globalThis.localStorage;
  const [live, setLive] = createSignal<LiveState | null>(null);
  const [loadError, setLoadError] = createSignal('');
  const [state, setState] = createStore<{ draft: WebinarConfig | null }>({ draft: null });
  const [baseVersion, setBaseVersion] = createSignal(0);
  const [restored, setRestored] = createSignal('');
  const [staleDraft, setStaleDraft] = createSignal<StoredDraft | null>(null);
  const [serverErrors, setServerErrors] = createSignal<FieldErrors>({});
  const [status, setStatus] = createSignal<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [conflict, setConflict] = createSignal(false);
  const [busy, setBusy] = createSignal(false);
  const [preview, setPreview] = createSignal<string | null>(null);
  const [previewBusy, setPreviewBusy] = createSignal(false);
  const [previewError, setPreviewError] = createSignal('');
  const [history, setHistory] = createSignal<{ current: number; entries: HistoryEntry[] }>({
    current: 0,
    entries: [],
  });

  const draftJson = createMemo(() => (state.draft ? JSON.stringify(state.draft) : ''));
  const errors = createMemo<FieldErrors>(() => {
    const json = draftJson();
    if (!json) return {};
    return { ...serverErrors(), ...validateDraft(JSON.parse(json)) };
  });
  const errorList = createMemo(() => Object.entries(errors()));
  const invalid = () => errorList().length > 0;
  const dirty = createMemo(
    () => !!live() && draftJson() !== '' && draftJson() !== JSON.stringify(live()!.config),
  );

  async function refreshHistory() {
    try {
      setHistory(await props.api.history());
    } catch {
      // The history is secondary; the editor stays usable without it.
    }
  }

  async function load(discardDraft = false) {
    setLoadError('');
    let current: LiveState;
    try {
      current = await props.api.load();
    } catch (e) {
      setLoadError(`${EDITOR_MESSAGES.loadFailed} ${e instanceof Error ? e.message : ''}`.trim());
      return;
    }
    const base = current.fallbackFrom ?? current.version;
    setLive(current);
    setBaseVersion(base);
    setConflict(false);
    setServerErrors({});
    setStaleDraft(null);
    setRestored('');
    if (discardDraft) clearDraft(storage());
    const stored = discardDraft ? null : loadDraft(storage());
    if (stored && stored.baseVersion === base && !same(stored.config, current.config)) {
      setState('draft', reconcile(clone(stored.config) as WebinarConfig));
      setRestored('Ihr noch nicht veröffentlichter Entwurf wurde wiederhergestellt.');
    } else {
      setState('draft', reconcile(clone(current.config)));
      if (stored && stored.baseVersion !== base) setStaleDraft(stored);
    }
    void refreshHistory();
  }

  onMount(() => void load());

  // Save the draft as the marketer types; a draft equal to the live config is no draft.
  createEffect(() => {
    const json = draftJson();
    if (!json || staleDraft()) return;
    if (!dirty()) clearDraft(storage());
    else
      saveDraft(
        { baseVersion: baseVersion(), config: JSON.parse(json), savedAt: new Date().toISOString() },
        storage(),
      );
  });

  function set(path: Path, value: unknown) {
    setState(produce((s) => setIn(s.draft as never, path, value)));
    if (Object.keys(serverErrors()).length) setServerErrors({});
    setStatus(null);
  }

  const uploadPhoto: UploadPhoto = async (file) =>
    uploadPhotoPair(props.api, await (props.preparePhoto ?? preparePhotoInBrowser)(file));

  const uploadLogo: UploadLogo = async (file) => {
    const { blob, width, height } = await (props.prepareLogo ?? prepareLogoInBrowser)(file);
    return { hash: await props.api.uploadMedia(blob), width, height };
  };

  async function publish() {
    if (!state.draft || invalid() || busy()) return;
    setBusy(true);
    setStatus(null);
    const config = clone(state.draft);
    const shareWarning = await refreshShareImage(
      config,
      live()?.config,
      props.renderShareImage ?? renderShareImage,
      props.api.uploadMedia,
    );
    const answer = await props.api.publish(baseVersion(), config);
    setBusy(false);
    switch (answer.kind) {
      case 'ok':
        setLive({ version: answer.version, config });
        // The published config may carry a new share image; the draft is that config now.
        setState('draft', reconcile(clone(config)));
        setBaseVersion(answer.version);
        clearDraft(storage());
        setRestored('');
        setStatus({
          kind: 'ok',
          text: `${EDITOR_MESSAGES.published(answer.version)}${shareWarning ? ` ${shareWarning}` : ''}`,
        });
        void refreshHistory();
        break;
      case 'invalid':
        setServerErrors(answer.errors);
        setStatus({ kind: 'error', text: answer.message });
        break;
      case 'conflict':
        setConflict(true);
        setStatus({ kind: 'error', text: EDITOR_MESSAGES.conflict });
        break;
      case 'error':
        setStatus({ kind: 'error', text: answer.message });
    }
  }

  async function rollback(version: number) {
    setBusy(true);
    setStatus(null);
    const answer = await props.api.rollback(version, baseVersion());
    setBusy(false);
    if (answer.kind === 'ok') {
      await load(true);
      setStatus({ kind: 'ok', text: EDITOR_MESSAGES.rolledBack(version, answer.version) });
    } else if (answer.kind === 'conflict') {
      setConflict(true);
      setStatus({ kind: 'error', text: EDITOR_MESSAGES.conflict });
    } else setStatus({ kind: 'error', text: answer.message });
  }

  async function refreshPreview() {
    if (!state.draft) return;
    setPreviewBusy(true);
    setPreviewError('');
    const result = await props.api.preview(clone(state.draft));
    setPreviewBusy(false);
    if (result.ok) setPreview(result.html);
    else setPreviewError(result.message);
  }

  return (
    <main class="editor">
      <h2 class="visually-hidden">Seiteninhalte bearbeiten</h2>
      <Show when={loadError()}>
        <section class="card" role="alert">
          <p class="error">{loadError()}</p>
          <button type="button" onClick={() => void load()}>
            Erneut versuchen
          </button>
        </section>
      </Show>
      <Show when={live()?.fallbackFrom}>
        <section class="card warning" role="alert">
          <p>
            <strong>Achtung:</strong> Die veröffentlichte Version {live()!.fallbackFrom} ist beschädigt und
            wird Besuchern nicht gezeigt; sie sehen Version {live()!.version}. Veröffentlichen Sie eine
            korrigierte Fassung oder stellen Sie eine ältere Version wieder her.
          </p>
        </section>
      </Show>
      <Show when={staleDraft()}>
        {(stale) => (
          <section class="card warning" aria-labelledby="stale-heading">
            <h2 id="stale-heading">Älterer Entwurf gefunden</h2>
            <p>
              Ein gespeicherter Entwurf beruht auf Version {stale().baseVersion}; inzwischen ist Version{' '}
              {baseVersion()} veröffentlicht. Er wurde nicht übernommen, damit keine neueren Änderungen
              verloren gehen.
            </p>
            <div class="row">
              <button
                type="button"
                class="secondary"
                onClick={() => {
                  setState('draft', reconcile(clone(stale().config) as WebinarConfig));
                  setStaleDraft(null);
                  setRestored(
                    'Der ältere Entwurf wurde übernommen. Veröffentlichen ersetzt damit die neuere Version.',
                  );
                }}
              >
                Älteren Entwurf trotzdem übernehmen
              </button>
              <button
                type="button"
                class="secondary"
                onClick={() => {
                  clearDraft(storage());
                  setStaleDraft(null);
                }}
              >
                Älteren Entwurf verwerfen
              </button>
            </div>
          </section>
        )}
      </Show>

      <Show when={state.draft}>
        <section class="card toolbar" aria-labelledby="sec-publish">
          <h2 id="sec-publish">Veröffentlichen</h2>
          <p>
            Live ist Version {live()?.version ?? 0}
            <Show when={dirty()}> · Ihr Entwurf hat ungespeicherte Änderungen (lokal gesichert).</Show>
          </p>
          <Show when={restored()}>
            <p class="hint">
              {restored()}{' '}
              <button type="button" class="link" onClick={() => void load(true)}>
                Entwurf verwerfen
              </button>
            </p>
          </Show>
          <Show when={invalid()}>
            <div id="publish-blocked" class="error-summary">
              <p class="error">{EDITOR_MESSAGES.invalidCount(errorList().length)}</p>
              <ul>
                <For each={errorList().slice(0, 10)}>
                  {([path, message]) => (
                    <li>
                      <a
                        href={`#${fieldId(path)}`}
                        onClick={(e) => {
                          e.preventDefault();
                          focusField(path);
                        }}
                      >
                        {message}
                      </a>
                    </li>
                  )}
                </For>
              </ul>
            </div>
          </Show>
          <div class="row">
            <button
              type="button"
              onClick={() => void publish()}
              disabled={invalid() || busy() || conflict()}
              aria-describedby={invalid() ? 'publish-blocked' : undefined}
            >
              {busy() ? 'Wird veröffentlicht …' : 'Veröffentlichen'}
            </button>
            <Show when={conflict()}>
              <button type="button" class="secondary" onClick={() => void load(true)}>
                Neu laden (Entwurf verwerfen)
              </button>
            </Show>
          </div>
          <p
            role="status"
            aria-live="polite"
            classList={{ success: status()?.kind === 'ok', error: status()?.kind === 'error' }}
          >
            {status()?.text ?? ''}
          </p>
        </section>

        <ConfigForm
          draft={state.draft!}
          errors={errors()}
          set={set}
          uploadPhoto={uploadPhoto}
          uploadLogo={uploadLogo}
        />

        <PreviewPanel
          html={preview()}
          busy={previewBusy()}
          error={previewError()}
          disabled={invalid()}
          onRefresh={() => void refreshPreview()}
        />
        <HistoryPanel
          entries={history().entries}
          current={history().current}
          busy={busy()}
          onRollback={(v) => void rollback(v)}
        />
      </Show>
      <Show when={!state.draft && !loadError()}>
        <p>Inhalte werden geladen …</p>
      </Show>
    </main>
  );
}

/** The marketing area for a signed-in session (see src/admin/entry.tsx). */
export function MarketingApp(props: { session: AdminSession }) {
  return <ConfigEditor api={httpApi(props.session)} />;
}
