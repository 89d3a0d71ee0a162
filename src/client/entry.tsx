/**
 * Visitor page entry: hydrates the islands the worker rendered, nothing else. Pages
 * without islands (legal texts, thank-you) do not load this script at all.
 */
import { hydrate } from 'solid-js/web';
import { Countdown } from '../components/countdown';
import { RegistrationForm } from '../components/registration-form';
import { ISLANDS, type IslandName, type IslandProps } from '../components/island';

const COMPONENTS: { [K in IslandName]: (props: IslandProps[K]) => unknown } = {
  countdown: Countdown,
  form: RegistrationForm,
};

for (const name of Object.keys(ISLANDS) as IslandName[]) {
  const { id, renderId } = ISLANDS[name];
  const el = document.getElementById(id);
  const data = document.getElementById(`${id}-props`);
  if (!el || !data) continue;
  const props = JSON.parse(data.textContent || '{}');
  const Component = COMPONENTS[name] as (p: typeof props) => any;
  hydrate(() => Component(props), el, { renderId });
}
