/**
 * Labelled inputs for the editor. Each one shows its German validation message right
 * below itself, marks itself `aria-invalid` and points to the message (and its hint)
 * with `aria-describedby`, so screen readers read the problem with the field.
 */
import { createSignal, Show, type JSX } from 'solid-js';
import { errorAt, fieldId, type FieldErrors } from './validation';

interface BaseProps {
  /** Dot path into WebinarConfig, e.g. `speakers.2.name`; also the source of the id. */
  path: string;
  label: string;
  errors: FieldErrors;
  hint?: string;
  /** Show messages for parts of this field too (lists edited as one text). */
  nested?: boolean;
}

/** What a field's control needs to be labelled and described; read inside JSX (reactive). */
interface Aria {
  id: string;
  invalid: () => 'true' | undefined;
  describedBy: () => string | undefined;
}

function Described(props: BaseProps & { children: (aria: Aria) => JSX.Element }) {
  const id = () => fieldId(props.path);
  const message = () => errorAt(props.errors, props.path, props.nested);
  const aria: Aria = {
    get id() {
      return id();
    },
    invalid: () => (message() ? 'true' : undefined),
    describedBy: () =>
      [props.hint ? `${id()}-hint` : '', message() ? `${id()}-error` : ''].filter(Boolean).join(' ') ||
      undefined,
  };
  return (
    <div class="field" classList={{ invalid: !!message() }}>
      <label for={id()}>{props.label}</label>
      <Show when={props.hint}>
        <p class="hint" id={`${id()}-hint`}>
          {props.hint}
        </p>
      </Show>
      {props.children(aria)}
      <Show when={message()}>
        <p class="error field-error" id={`${id()}-error`}>
          {message()}
        </p>
      </Show>
    </div>
  );
}

/** A one-line text input (or url/email/datetime text). */
export function TextField(
  props: BaseProps & {
    value: string | undefined;
    onInput: (value: string) => void;
    type?: 'text' | 'url' | 'email';
    autocomplete?: string;
  },
) {
  return (
    <Described {...props}>
      {(aria) => (
        <input
          id={aria.id}
          aria-invalid={aria.invalid()}
          aria-describedby={aria.describedBy()}
          type={props.type ?? 'text'}
          value={props.value ?? ''}
          autocomplete={props.autocomplete ?? 'off'}
          spellcheck={props.type ? false : undefined}
          onInput={(e) => props.onInput(e.currentTarget.value)}
        />
      )}
    </Described>
  );
}

/** A multi-line text. */
export function TextArea(
  props: BaseProps & { value: string | undefined; onInput: (value: string) => void; rows?: number },
) {
  return (
    <Described {...props}>
      {(aria) => (
        <textarea
          id={aria.id}
          aria-invalid={aria.invalid()}
          aria-describedby={aria.describedBy()}
          rows={props.rows ?? 3}
          value={props.value ?? ''}
          onInput={(e) => props.onInput(e.currentTarget.value)}
        />
      )}
    </Described>
  );
}

/** A whole number; an empty or non-numeric input becomes NaN so the schema reports it. */
export function NumberField(
  props: BaseProps & {
    value: number | undefined;
    onInput: (value: number) => void;
    min?: number;
    max?: number;
  },
) {
  return (
    <Described {...props}>
      {(aria) => (
        <input
          id={aria.id}
          aria-invalid={aria.invalid()}
          aria-describedby={aria.describedBy()}
          type="number"
          inputmode="numeric"
          min={props.min}
          max={props.max}
          step="1"
          value={Number.isFinite(props.value) ? String(props.value) : ''}
          onInput={(e) => {
            const raw = e.currentTarget.value.trim();
            props.onInput(raw === '' ? Number.NaN : Number(raw));
          }}
        />
      )}
    </Described>
  );
}

const splitParagraphs = (text: string) =>
  text
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter(Boolean);

/**
 * A list of paragraphs edited as one text, separated by a blank line. The textarea keeps
 * what was typed (blank lines included) while the config gets the cleaned list.
 */
export function ParagraphsField(
  props: BaseProps & { value: string[]; onInput: (value: string[]) => void; rows?: number },
) {
  const [text, setText] = createSignal<string | null>(null);
  const shown = () => {
    const typed = text();
    // Re-sync when the list changed from outside (reload, rollback).
    return typed !== null && JSON.stringify(splitParagraphs(typed)) === JSON.stringify(props.value)
      ? typed
      : props.value.join('\n\n');
  };
  return (
    <Described {...props} nested hint={props.hint ?? 'Absätze durch eine Leerzeile trennen.'}>
      {(aria) => (
        <textarea
          id={aria.id}
          aria-invalid={aria.invalid()}
          aria-describedby={aria.describedBy()}
          rows={props.rows ?? 8}
          value={shown()}
          onInput={(e) => {
            setText(e.currentTarget.value);
            props.onInput(splitParagraphs(e.currentTarget.value));
          }}
        />
      )}
    </Described>
  );
}

/** A yes/no choice. */
export function CheckboxField(props: BaseProps & { checked: boolean; onChange: (checked: boolean) => void }) {
  return (
    <Described {...props}>
      {(aria) => (
        <input
          id={aria.id}
          type="checkbox"
          class="checkbox"
          aria-invalid={aria.invalid()}
          aria-describedby={aria.describedBy()}
          checked={props.checked}
          onChange={(e) => props.onChange(e.currentTarget.checked)}
        />
      )}
    </Described>
  );
}
