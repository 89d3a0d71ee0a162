/**
 * Islands: the only parts of the visitor page that ship JavaScript. The worker renders an
 * island's component to HTML with its own render id and writes its props beside it as a
 * JSON data block; the browser hydrates exactly that element with exactly those props.
 * Today there is one, the registration form; the countdown is plain server HTML that a
 * few lines of script keep running (src/components/countdown.tsx).
 */
import type { RegistrationFormProps } from './registration-form';

export interface IslandProps {
  form: RegistrationFormProps;
}
export type IslandName = keyof IslandProps;

/** Element id and Solid render id per island; shared by server and client. */
export const ISLANDS: Record<IslandName, { id: string; renderId: string }> = {
  form: { id: 'register-form', renderId: 'f' },
};

export interface IslandMarkup {
  html: string;
  propsJson: string;
}

/** JSON safe inside a <script> data block: no "</script>", no "<!--". */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

export function Island(props: { name: IslandName; markup: IslandMarkup; class?: string }) {
  const { id } = ISLANDS[props.name];
  return (
    <>
      <div id={id} class={props.class} innerHTML={props.markup.html} />
      <script type="application/json" id={`${id}-props`} innerHTML={props.markup.propsJson} />
    </>
  );
}
