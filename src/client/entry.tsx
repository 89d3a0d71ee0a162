/**
 * Visitor page entry: hydrates the form island the worker rendered, keeps the countdown
 * running and lets every "register" link put the cursor into the e-mail field. Pages
 * without islands (legal texts, thank-you) do not load this script at all.
 */
import { hydrate } from 'solid-js/web';
import { COUNTDOWN_ID, runCountdown } from '../components/countdown';
import { RegistrationForm } from '../components/registration-form';
import { ISLANDS } from '../components/island';

const { id, renderId } = ISLANDS.form;
const el = document.getElementById(id);
const data = document.getElementById(`${id}-props`);
if (el && data) hydrate(() => RegistrationForm(JSON.parse(data.textContent!)), el, { renderId });

const countdown = document.getElementById(COUNTDOWN_ID);
if (countdown) runCountdown(countdown);

// "#anmeldung" (hero and sticky buttons) and the error list's "#reg-…" links: scroll the
// field into view and focus it, so the visitor can type at once. Without this script the
// links still scroll there.
document.addEventListener('click', (event) => {
  const link = (event.target as Element).closest?.('a[href^="#"]');
  const target = link && link.getAttribute('href')!.slice(1);
  const field = target && document.getElementById(target === 'anmeldung' ? 'reg-email' : target);
  if (!(field instanceof HTMLInputElement)) return;
  event.preventDefault();
  field.scrollIntoView({ block: 'center' });
  field.focus({ preventScroll: true });
});
