/**
 * Pieces every part of the editor shares (topics, speakers, agenda, FAQ): the buttons to
 * move and remove a list item with focus that follows it, the list's own error, and
 * binding a text field to its path in the draft.
 */
import { Show } from 'solid-js';
import { errorAt, type FieldErrors } from './validation';

export type Path = (string | number)[];

/** What a part of the form gets from MarketingApp: the draft, its errors, a setter. */
export interface FormBinding {
  draft: unknown;
  errors: FieldErrors;
  set: (path: Path, value: unknown) => void;
}

/** A text field's props, all from its path in the draft: name, errors, value, change. */
export const textBinding = (props: FormBinding) => (path: Path) => ({
  path: path.join('.'),
  get errors() {
    return props.errors;
  },
  get value() {
    return valueAt(props.draft, path) as string | undefined;
  },
  onInput: (value: string) => props.set(path, value),
});

export function move<T>(list: T[], from: number, to: number): T[] {
  const copy = [...list];
  const [item] = copy.splice(from, 1);
  copy.splice(to, 0, item);
  return copy;
}

/** Turns an empty optional text into "absent", as the schema expects. */
export const optional = (value: string) => (value.trim() === '' ? undefined : value);

export function ListError(props: { errors: FieldErrors; path: string }) {
  return (
    <Show when={errorAt(props.errors, props.path)}>
      <p class="error" role="alert" id={`${props.path}-list-error`}>
        {errorAt(props.errors, props.path)}
      </p>
    </Show>
  );
}

/**
 * Moves an item and keeps keyboard focus on the moved item's button (the DOM rows stay in
 * place and swap contents), or on its other move button at the end of the list.
 */
export function moveAndFollow(
  button: HTMLElement,
  dir: 'up' | 'down',
  to: number,
  onMove: (to: number) => void,
) {
  const list = button.closest('ol');
  onMove(to);
  const row = list?.children[to];
  const same = row?.querySelector<HTMLButtonElement>(`[data-move="${dir}"]`);
  const other = row?.querySelector<HTMLButtonElement>(`[data-move="${dir === 'up' ? 'down' : 'up'}"]`);
  (same && !same.disabled ? same : other)?.focus();
}

export function ItemButtons(props: {
  index: number;
  count: number;
  what: string;
  onMove: (to: number) => void;
  onRemove: () => void;
  minCount: number;
}) {
  return (
    <div class="row item-actions">
      <button
        type="button"
        class="secondary"
        disabled={props.index === 0}
        data-move="up"
        onClick={(e) => moveAndFollow(e.currentTarget, 'up', props.index - 1, props.onMove)}
        aria-label={`Nach oben: ${props.what}`}
      >
        Nach oben
      </button>
      <button
        type="button"
        class="secondary"
        disabled={props.index === props.count - 1}
        data-move="down"
        onClick={(e) => moveAndFollow(e.currentTarget, 'down', props.index + 1, props.onMove)}
        aria-label={`Nach unten: ${props.what}`}
      >
        Nach unten
      </button>
      <button
        type="button"
        class="secondary danger"
        disabled={props.count <= props.minCount}
        onClick={props.onRemove}
        aria-label={`Entfernen: ${props.what}`}
      >
        Entfernen
      </button>
    </div>
  );
}

/** The draft's value at `path` (undefined where the path leads nowhere). */
export function valueAt(draft: unknown, path: Path): unknown {
  return path.reduce<unknown>((o, k) => (o as Record<string | number, unknown> | undefined)?.[k], draft);
}
