/**
 * The registration form, an island: rendered by the worker (so it works without
 * JavaScript as a plain form post) and hydrated in the browser, where it validates each
 * field as the visitor leaves it, submits without a reload and retries once by itself.
 */
import { createSignal, Show } from 'solid-js';
import {
  validateRegistration,
  validateRegistrationField,
  type FieldErrors,
  type RegistrationField,
} from '../lib/registration';
import type { CalendarLinks } from '../lib/calendar';

export type FormValues = {
  email?: string;
  firstName?: string;
  privacy?: boolean;
  giveaway?: boolean;
  newsletter?: boolean;
};

export interface RegistrationFormProps {
  mode: 'register' | 'replay';
  heading: string;
  submitLabel: string;
  privacyLabel: string;
  giveawayLabel: string;
  newsletterLabel: string;
  /** False once the giveaway's deadline has passed: the checkbox is not offered. */
  giveawayOpen: boolean;
  thankYouHeading: string;
  thankYouText: string;
  calendar: CalendarLinks | null;
  /** Re-rendered after a failed plain form post: the visitor's input and the errors. */
  values?: FormValues;
  errors?: FieldErrors;
}

const MESSAGES = {
  sending: 'Wird gesendet …',
  network:
    'Keine Verbindung zum Server. Bitte prüfen Sie Ihre Internetverbindung und versuchen Sie es erneut – Ihre Angaben bleiben erhalten.',
  busy: 'Unser Server ist gerade stark ausgelastet. Ihre Angaben bleiben erhalten – bitte versuchen Sie es in einigen Sekunden erneut.',
  tooMany:
    'Zu viele Anmeldeversuche in kurzer Zeit. Bitte warten Sie eine Minute und versuchen Sie es dann erneut.',
  unexpected: 'Ihre Anmeldung konnte nicht gespeichert werden. Bitte versuchen Sie es erneut.',
  fixErrors: 'Bitte korrigieren Sie die markierten Angaben.',
} as const;

type CheckboxField = 'privacy' | 'giveaway' | 'newsletter';
const FIELD_ORDER: Exclude<RegistrationField, 'form'>[] = [
  'email',
  'firstName',
  'privacy',
  'giveaway',
  'newsletter',
];
const RETRY_DELAY_MS = 1200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads UTM parameters and the external referrer's origin in the browser. */
function trackingFields(): Record<string, string> {
  const out: Record<string, string> = {};
  const params = new URLSearchParams(location.search);
  for (const key of ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content']) {
    const value = params.get(key);
    if (value) out[key] = value.slice(0, 200);
  }
  try {
    const ref = document.referrer && new URL(document.referrer);
    if (ref && ref.origin !== location.origin) out.referrer = ref.origin;
  } catch {
    /* an unparsable referrer is simply not recorded */
  }
  return out;
}

export function RegistrationForm(props: RegistrationFormProps) {
  const [values, setValues] = createSignal<FormValues>({ ...props.values });
  const [errors, setErrors] = createSignal<FieldErrors>({ ...props.errors });
  const [sending, setSending] = createSignal(false);
  const [done, setDone] = createSignal(false);
  const [status, setStatus] = createSignal(
    props.errors?.form ?? (props.errors && Object.keys(props.errors).length ? MESSAGES.fixErrors : ''),
  );
  let formEl: HTMLFormElement | undefined;
  let doneHeading: HTMLHeadingElement | undefined;

  const set = (field: keyof FormValues, value: string | boolean) =>
    setValues((v) => ({ ...v, [field]: value }));

  const checkField = (field: Exclude<RegistrationField, 'form'>) => {
    const value = values()[field];
    const message = validateRegistrationField(field, typeof value === 'boolean' ? value || undefined : value);
    setErrors((e) => ({ ...e, [field]: message }));
  };

  const focusFirstError = (errs: FieldErrors) => {
    const first = FIELD_ORDER.find((f) => errs[f]);
    if (first) formEl?.querySelector<HTMLElement>(`[name="${first}"]`)?.focus();
  };

  async function post(body: string): Promise<Response> {
    const init: RequestInit = {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body,
    };
    try {
      const res = await fetch('/api/register', init);
      if (res.status !== 503) return res;
      // KV hiccup: wait as the server asks (bounded), then one more try.
      const wait = Math.min(Number(res.headers.get('retry-after')) || 1, 3);
      await sleep(wait * 1000);
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
    const payload = {
      email: text('email'),
      firstName: text('firstName'),
      privacy: form.has('privacy'),
      giveaway: props.giveawayOpen && form.has('giveaway'),
      newsletter: form.has('newsletter'),
      website: text('website'),
      ...trackingFields(),
    };
    setValues({
      email: payload.email,
      firstName: payload.firstName,
      privacy: payload.privacy,
      giveaway: payload.giveaway,
      newsletter: payload.newsletter,
    });
    const checked = validateRegistration(payload);
    if (!checked.ok) {
      setErrors(checked.errors);
      setStatus(MESSAGES.fixErrors);
      focusFirstError(checked.errors);
      return;
    }
    setSending(true);
    setStatus(MESSAGES.sending);
    try {
      const res = await post(JSON.stringify(payload));
      if (res.ok) {
        setErrors({});
        setDone(true);
        setStatus('');
        doneHeading?.focus();
        return;
      }
      if (res.status === 400) {
        const body = (await res.json().catch(() => null)) as { errors?: FieldErrors } | null;
        const errs = body?.errors ?? { form: MESSAGES.unexpected };
        setErrors(errs);
        setStatus(errs.form ?? MESSAGES.fixErrors);
        focusFirstError(errs);
      } else if (res.status === 429) setStatus(MESSAGES.tooMany);
      else if (res.status === 503) setStatus(MESSAGES.busy);
      else setStatus(MESSAGES.unexpected);
    } catch {
      setStatus(MESSAGES.network);
    } finally {
      setSending(false);
    }
  }

  // Leaving a field for the submit button: the submit validates everything anyway, and a
  // message appearing on blur would push the button away under the pointer, so the click
  // landed elsewhere and the form was never sent.
  const toSubmit = (e: FocusEvent) =>
    (e.relatedTarget as HTMLElement | null)?.getAttribute('type') === 'submit';

  const describedBy = (field: RegistrationField, hint?: string) =>
    [hint, errors()[field] ? `${field}-error` : undefined].filter(Boolean).join(' ') || undefined;

  const FieldError = (p: { field: RegistrationField }) => (
    <p id={`${p.field}-error`} class="field-error" hidden={!errors()[p.field]}>
      {errors()[p.field]}
    </p>
  );

  const Checkbox = (p: {
    field: CheckboxField;
    label: string;
    required?: boolean;
    link?: { href: string; text: string };
  }) => (
    <div class={`check${errors()[p.field] ? ' invalid' : ''}`}>
      <input
        type="checkbox"
        id={`reg-${p.field}`}
        name={p.field}
        checked={!!values()[p.field]}
        required={p.required}
        aria-invalid={errors()[p.field] ? 'true' : undefined}
        aria-describedby={describedBy(p.field)}
        autofocus={!!props.errors && FIELD_ORDER.find((f) => props.errors![f]) === p.field}
        onChange={(e) => {
          set(p.field, e.currentTarget.checked);
          if (errors()[p.field] || p.required) checkField(p.field);
        }}
      />
      <label for={`reg-${p.field}`}>
        {p.label}
        <Show when={p.link}>
          {(link) => (
            <>
              {' '}
              <a href={link().href} target="_blank" rel="noopener">
                {link().text}
              </a>
            </>
          )}
        </Show>
        <Show when={p.required}>
          <span class="req"> (Pflichtfeld)</span>
        </Show>
      </label>
      <FieldError field={p.field} />
    </div>
  );

  return (
    <div class="form-card">
      <p class="sr-only" role="status" aria-live="polite">
        {done() ? props.thankYouHeading : sending() ? MESSAGES.sending : ''}
      </p>
      <Show
        when={!done()}
        fallback={
          <div class="thanks">
            <h3 ref={doneHeading} tabindex="-1">
              {props.thankYouHeading}
            </h3>
            <p>{props.thankYouText}</p>
            <CalendarButtons links={props.calendar} />
          </div>
        }
      >
        <form
          ref={(el) => {
            formEl = el;
            // With JavaScript we validate ourselves, with German messages at the field.
            queueMicrotask(() => (el.noValidate = true));
          }}
          method="post"
          action="/api/register#anmeldung"
          onSubmit={onSubmit}
        >
          <p id="form-status" class={`form-status${status() ? '' : ' empty'}`} role="alert">
            {status() === MESSAGES.sending ? '' : status()}
          </p>
          <div class={`field${errors().email ? ' invalid' : ''}`}>
            <label for="reg-email">
              E-Mail-Adresse <span class="req">(Pflichtfeld)</span>
            </label>
            <input
              id="reg-email"
              name="email"
              type="email"
              inputmode="email"
              autocomplete="email"
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
              onBlur={(e) => !toSubmit(e) && values().email !== undefined && checkField('email')}
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
              onBlur={(e) => !toSubmit(e) && checkField('firstName')}
            />
            <FieldError field="firstName" />
          </div>
          <div class="hp" aria-hidden="true">
            <label for="reg-website">Bitte dieses Feld leer lassen</label>
            <input id="reg-website" name="website" type="text" tabindex="-1" autocomplete="off" />
          </div>
          <Checkbox
            field="privacy"
            label={props.privacyLabel}
            required
            link={{ href: '/datenschutz', text: 'Datenschutzhinweise' }}
          />
          <Show when={props.giveawayOpen}>
            <Checkbox
              field="giveaway"
              label={props.giveawayLabel}
              link={{ href: '/teilnahmebedingungen', text: 'Teilnahmebedingungen' }}
            />
          </Show>
          <Checkbox field="newsletter" label={props.newsletterLabel} />
          <button
            type="submit"
            class="cta"
            disabled={sending()}
            aria-disabled={sending() ? 'true' : undefined}
          >
            {sending() ? MESSAGES.sending : props.submitLabel}
          </button>
        </form>
      </Show>
    </div>
  );
}

/** "Add to calendar": the .ics download and the two web calendars most visitors use. */
export function CalendarButtons(props: { links: CalendarLinks | null }) {
  return (
    <Show when={props.links}>
      {(links) => (
        <div class="cal">
          <p class="cal-title">Termin in Ihren Kalender eintragen:</p>
          <ul>
            <li>
              <a class="btn" href={links().ics} download="webinar.ics">
                Apple / Outlook (.ics)
              </a>
            </li>
            <li>
              <a class="btn" href={links().google} target="_blank" rel="noopener">
                Google Kalender
              </a>
            </li>
            <li>
              <a class="btn" href={links().outlook} target="_blank" rel="noopener">
                Outlook.com
              </a>
            </li>
          </ul>
        </div>
      )}
    </Show>
  );
}
