/**
 * The registration form, an island: rendered by the worker (so it works without
 * JavaScript as a plain form post) and hydrated in the browser, where it validates each
 * field as the visitor leaves it, submits without a reload and retries once by itself.
 * Everything the browser does not need to compute (the thank-you block, UTM parameters,
 * which the worker reads from the page address) stays on the server.
 */
import { createSignal, onCleanup, onMount, Show } from 'solid-js';
import { solveAltcha, type AltchaChallenge } from '../lib/altcha-solver';
import { validateRegistrationField, type FieldErrors, type RegistrationField } from '../lib/registration';

/** Replaced per response by the worker with the signed render time (worker/abuse/form-stamp.ts). */
export const FORM_STAMP_SLOT = 'app-form-stamp';
/** Replaced per response with the attack-mode question's text. */
export const QUESTION_SLOT = '<!--app-question-->';

export type FormValues = {
  email?: string;
  firstName?: string;
  privacy?: boolean;
  giveaway?: boolean;
  newsletter?: boolean;
};

type CheckboxField = 'privacy' | 'giveaway' | 'newsletter';

export interface RegistrationFormProps {
  submitLabel: string;
  /**
   * The consent labels as HTML (text, link, "Pflichtfeld"), rendered by the worker
   * (`consentLabelHtml`) so the browser needs no code for them; trusted HTML.
   */
  labels: Record<CheckboxField, string>;
  /** False once the giveaway's deadline has passed: the checkbox is not offered. */
  giveawayOpen: boolean;
  /** FORM_MESSAGES, handed over by the worker so the strings are not in the bundle. */
  messages: typeof FORM_MESSAGES;
  /** The done state, rendered by the worker (src/components/thank-you.tsx); trusted HTML. */
  thanksHtml: string;
  /** The published config version the page was rendered from (0: the repo's default). */
  configVersion: number;
  /** The signed render time for the plain form (a slot the worker fills per response). */
  stamp: string;
  /** Attack mode: the plain form asks one short question (its text is a slot). */
  question?: boolean;
  /** Re-rendered after a failed plain form post: the visitor's input and the errors. */
  values?: FormValues;
  errors?: FieldErrors;
}

export const FORM_MESSAGES = {
  sending: 'Wird gesendet …',
  network:
    'Keine Verbindung zum Server. Bitte prüfen Sie Ihre Internetverbindung und versuchen Sie es erneut – Ihre Angaben bleiben erhalten.',
  busy: 'Unser Server ist gerade stark ausgelastet. Ihre Angaben bleiben erhalten – bitte versuchen Sie es in einigen Sekunden erneut.',
  tooMany:
    'Zu viele Anmeldeversuche in kurzer Zeit. Bitte warten Sie eine Minute und versuchen Sie es dann erneut.',
  unexpected: 'Ihre Anmeldung konnte nicht gespeichert werden. Bitte versuchen Sie es erneut.',
  fixErrors: 'Bitte korrigieren Sie:',
} as const;

type Field = Exclude<RegistrationField, 'form'>;
const FIELD_ORDER: Field[] = ['email', 'firstName', 'privacy', 'giveaway', 'newsletter'];
const RETRY_DELAY_MS = 1200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The origin of the external page the visitor came from, if any. */
function referrerOrigin(): string {
  try {
    const ref = new URL(document.referrer);
    return ref.origin !== location.origin ? ref.origin : '';
  } catch {
    return '';
  }
}

/** Field → first message, only for fields that have one, in the form's order. */
export function fieldErrorList(errors: FieldErrors | undefined): [Field, string][] {
  return FIELD_ORDER.filter((f) => errors?.[f]).map((f) => [f, errors![f]!]);
}

/** A consent checkbox's label: the text, a link to the document it refers to, "Pflichtfeld". */
export function ConsentLabel(props: {
  text: string;
  link?: { href: string; text: string };
  required?: boolean;
}) {
  return (
    <>
      {props.text}
      <Show when={props.link}>
        {(link) => (
          <>
            {' '}
            <a href={link().href} target="_blank" rel="noopener">
              {link().text}
            </a>
          </>
        )}
      </Show>
      <Show when={props.required}>
        <span class="req"> (Pflichtfeld)</span>
      </Show>
    </>
  );
}

export function RegistrationForm(props: RegistrationFormProps) {
  const messages = props.messages;
  const [values, setValues] = createSignal<FormValues>({ ...props.values });
  const [errors, setErrors] = createSignal<FieldErrors>({ ...props.errors });
  const [sending, setSending] = createSignal(false);
  const [done, setDone] = createSignal(false);
  // A message about the whole form (network, server); field problems are listed instead.
  const [status, setStatus] = createSignal(props.errors?.form ?? '');
  // The list of field problems shows from the first failed submit on and shrinks as the
  // visitor fixes them, so it never claims a problem that is gone.
  const [listed, setListed] = createSignal(fieldErrorList(props.errors).length > 0);
  let formEl: HTMLFormElement | undefined;
  let thanksEl: HTMLDivElement | undefined;

  // Whether a mouse button or finger is down right now (see `afterPress`).
  let pressed = false;
  onMount(() => {
    const track = (e: Event) => (pressed = e.type === 'pointerdown');
    const types = ['pointerdown', 'pointerup', 'pointercancel'];
    types.forEach((t) => document.addEventListener(t, track, true));
    onCleanup(() => types.forEach((t) => document.removeEventListener(t, track, true)));
  });

  /**
   * Runs `show` once the press that moved focus away is over. A message appearing between
   * press and release moves what is under the pointer, so the release lands elsewhere and
   * the tap is lost (the privacy box stays unticked). A touch tap's press and release come
   * in one task, so the next task is after it; a held mouse button is waited for.
   */
  const afterPress = (show: () => void) => {
    const wait = () => (pressed ? setTimeout(wait, 50) : show());
    setTimeout(wait);
  };

  const set = (field: keyof FormValues, value: string | boolean) =>
    setValues((v) => ({ ...v, [field]: value }));

  const checkField = (field: Field) => {
    const value = values()[field];
    const message = validateRegistrationField(field, value === false ? undefined : value);
    setErrors((e) => ({ ...e, [field]: message }));
  };

  const focusFirstError = (errs: FieldErrors) => {
    const first = fieldErrorList(errs)[0];
    if (first) formEl?.querySelector<HTMLElement>(`[name="${first[0]}"]`)?.focus();
  };

  const showErrors = (errs: FieldErrors) => {
    setErrors(errs);
    setStatus(errs.form ?? '');
    setListed(true);
    focusFirstError(errs);
  };

  // The proof of work (ALTCHA): fetched when the visitor starts on the form and solved in
  // the background, so it is ready long before the button is pressed.
  let solution: Promise<string | null> | undefined;
  const solve = () =>
    (solution ??= fetch('/api/register/challenge')
      .then((r) => (r.ok ? (r.json() as Promise<AltchaChallenge>) : null))
      .then((c) => (c ? solveAltcha(c) : null))
      .catch(() => null));
  const [hydrated, setHydrated] = createSignal(false);
  onMount(() => setHydrated(true));

  async function post(entered: Record<string, unknown>): Promise<Response> {
    let res = await postOnce(JSON.stringify({ ...entered, altcha: await solve() }));
    if (res.status === 403) {
      // The solution expired while the page was open (or was used): one fresh one.
      solution = undefined;
      res = await postOnce(JSON.stringify({ ...entered, altcha: await solve() }));
    }
    solution = undefined;
    return res;
  }

  async function postOnce(body: string): Promise<Response> {
    const init: RequestInit = {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body,
    };
    try {
      const res = await fetch('/api/register', init);
      if (res.status !== 503) return res;
      // KV hiccup: wait as the server asks (bounded), then one more try.
      await sleep(Math.min(Number(res.headers.get('retry-after')) || 1, 3) * 1000);
    } catch {
      await sleep(RETRY_DELAY_MS);
    }
    return fetch('/api/register', init);
  }

  async function onSubmit(event: SubmitEvent) {
    event.preventDefault();
    if (sending()) return;
    // Read the form itself, not the signals: on a slow phone the visitor may have typed or
    // ticked boxes before hydration, and not every such event is replayed.
    const form = new FormData(formEl);
    const text = (name: string) => String(form.get(name) ?? '');
    const entered: Required<FormValues> = {
      email: text('email'),
      firstName: text('firstName'),
      privacy: form.has('privacy'),
      giveaway: props.giveawayOpen && form.has('giveaway'),
      newsletter: form.has('newsletter'),
    };
    setValues(entered);
    const errs: FieldErrors = {};
    for (const f of FIELD_ORDER)
      errs[f] = validateRegistrationField(f, entered[f] === false ? undefined : entered[f]);
    if (fieldErrorList(errs).length) return showErrors(errs);
    setSending(true);
    setStatus('');
    try {
      // UTM parameters are not copied: the worker reads them from the page's address.
      const res = await post({
        ...entered,
        website: text('website'),
        referrer: referrerOrigin(),
        configVersion: props.configVersion,
      });
      if (res.ok) {
        setErrors({});
        setDone(true);
        (thanksEl?.firstElementChild as HTMLElement | null)?.focus();
      } else if (res.status === 400) {
        const body = (await res.json().catch(() => null)) as { errors?: FieldErrors } | null;
        showErrors(body?.errors ?? { form: messages.unexpected });
      } else
        setStatus(
          res.status === 429 ? messages.tooMany : res.status === 503 ? messages.busy : messages.unexpected,
        );
    } catch {
      setStatus(messages.network);
    } finally {
      setSending(false);
    }
  }

  const problems = () => (listed() ? fieldErrorList(errors()) : []);

  const describedBy = (field: Field) => (errors()[field] ? `${field}-error` : undefined);

  const FieldError = (p: { field: Field }) => (
    <p id={`${p.field}-error`} class="field-error" hidden={!errors()[p.field]}>
      {errors()[p.field]}
    </p>
  );

  const Checkbox = (p: { field: CheckboxField; required?: boolean }) => (
    <div class={`check${errors()[p.field] ? ' invalid' : ''}`}>
      <input
        type="checkbox"
        id={`reg-${p.field}`}
        name={p.field}
        checked={!!values()[p.field]}
        required={p.required}
        aria-invalid={errors()[p.field] ? 'true' : undefined}
        aria-describedby={describedBy(p.field)}
        autofocus={fieldErrorList(props.errors)[0]?.[0] === p.field}
        onChange={(e) => {
          set(p.field, e.currentTarget.checked);
          if (errors()[p.field] || p.required) checkField(p.field);
        }}
      />
      <label for={`reg-${p.field}`} innerHTML={props.labels[p.field]} />
      <FieldError field={p.field} />
    </div>
  );

  return (
    <div>
      <p class="sr-only" role="status" aria-live="polite">
        {sending() ? messages.sending : ''}
      </p>
      <Show when={!done()} fallback={<div class="thanks" ref={thanksEl} innerHTML={props.thanksHtml} />}>
        <form
          ref={(el) => {
            formEl = el;
            // With JavaScript we validate ourselves, with German messages at the field.
            queueMicrotask(() => (el.noValidate = true));
          }}
          method="post"
          action="/api/register#anmeldung"
          onSubmit={onSubmit}
          onFocusIn={() => void solve()}
        >
          <input type="hidden" name="configVersion" value={String(props.configVersion)} />
          <input type="hidden" name="renderedAt" value={props.stamp} />
          <div id="form-status" class="form-status" role="alert" hidden={!status() && !problems().length}>
            {status() || messages.fixErrors}
            <Show when={!status()}>
              <ul>
                {problems().map(([field, message]) => (
                  <li>
                    <a href={`#reg-${field}`}>{message}</a>
                  </li>
                ))}
              </ul>
            </Show>
          </div>
          <div class={`field${errors().email ? ' invalid' : ''}`}>
            <label for="reg-email">
              E-Mail-Adresse <span class="req">(Pflichtfeld)</span>
            </label>
            {/* type=text: Chromium hands a type=email field's domain over in punycode,
                so info@müller-bau.de would no longer be shown and sent as typed. */}
            <input
              id="reg-email"
              name="email"
              type="text"
              inputmode="email"
              autocomplete="email"
              autocapitalize="off"
              spellcheck={false}
              required
              maxlength="254"
              value={values().email ?? ''}
              aria-invalid={errors().email ? 'true' : undefined}
              aria-describedby={describedBy('email')}
              autofocus={!!props.errors?.email}
              onInput={(e) => {
                set('email', e.currentTarget.value);
                if (errors().email) checkField('email');
              }}
              onBlur={() => values().email !== undefined && afterPress(() => checkField('email'))}
            />
            <FieldError field="email" />
          </div>
          <div class={`field${errors().firstName ? ' invalid' : ''}`}>
            <label for="reg-firstName">
              Vorname <span class="opt">(optional)</span>
            </label>
            <input
              id="reg-firstName"
              name="firstName"
              type="text"
              autocomplete="given-name"
              maxlength="50"
              value={values().firstName ?? ''}
              aria-invalid={errors().firstName ? 'true' : undefined}
              aria-describedby={describedBy('firstName')}
              autofocus={!props.errors?.email && !!props.errors?.firstName}
              onInput={(e) => {
                set('firstName', e.currentTarget.value);
                if (errors().firstName) checkField('firstName');
              }}
              onBlur={() => afterPress(() => checkField('firstName'))}
            />
            <FieldError field="firstName" />
          </div>
          {/* Attack mode, for visitors without JavaScript only: the island proves work instead. */}
          <Show when={props.question}>
            <div class="field" hidden={hydrated()}>
              <label for="reg-answer" innerHTML={`${QUESTION_SLOT} <span class="req">(Pflichtfeld)</span>`} />
              <input
                id="reg-answer"
                name="answer"
                type="text"
                autocomplete="off"
                maxlength="40"
                required={!hydrated()}
              />
            </div>
          </Show>
          <div class="hp" aria-hidden="true">
            <label for="reg-website">Bitte dieses Feld leer lassen</label>
            <input id="reg-website" name="website" type="text" tabindex="-1" autocomplete="off" />
          </div>
          <Checkbox field="privacy" required />
          <Show when={props.giveawayOpen}>
            <Checkbox field="giveaway" />
          </Show>
          <Checkbox field="newsletter" />
          <button type="submit" class="cta" disabled={sending()}>
            {sending() ? messages.sending : props.submitLabel}
          </button>
        </form>
      </Show>
    </div>
  );
}
