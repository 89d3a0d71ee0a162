/**
 * Countdown to the start, an island hydrated in the browser. The server renders an empty,
 * fixed-height box (the time on the server would be stale in the cached HTML); the
 * browser fills it in after hydration, so there is no layout shift and no mismatch.
 */
import { createSignal, For, onCleanup, onMount, Show } from 'solid-js';

export interface CountdownProps {
  startMs: number;
}

function parts(ms: number) {
  const s = Math.max(0, Math.floor(ms / 1000));
  return {
    d: Math.floor(s / 86400),
    h: Math.floor((s % 86400) / 3600),
    m: Math.floor((s % 3600) / 60),
    s: s % 60,
  };
}

const pad = (n: number) => String(n).padStart(2, '0');

const UNITS = ['Tage', 'Std.', 'Min.', 'Sek.'] as const;

export function Countdown(props: CountdownProps) {
  const [now, setNow] = createSignal<number | null>(null);
  onMount(() => {
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    onCleanup(() => clearInterval(timer));
  });
  const cells = () => {
    const p = parts(props.startMs - now()!);
    return [String(p.d), pad(p.h), pad(p.m), pad(p.s)];
  };
  return (
    <div class="countdown" role="timer" aria-label="Zeit bis zum Beginn">
      <Show when={now() !== null}>
        <Show
          when={props.startMs > now()!}
          fallback={<span class="cd-live">Das Webinar beginnt jetzt.</span>}
        >
          <For each={UNITS}>
            {(unit, i) => (
              <span class="cd-cell">
                <b>{cells()[i()]}</b> {unit}
              </span>
            )}
          </For>
        </Show>
      </Show>
    </div>
  );
}
