/** Registrations per day as an inline SVG bar chart, with a text summary for screen readers. */
import { For, Show } from 'solid-js';

const df = new Intl.DateTimeFormat('de-DE', { day: '2-digit', month: '2-digit', timeZone: 'UTC' });

export function DayChart(props: { days: { day: string; count: number }[] }) {
  const W = 720;
  const H = 200;
  const PAD = 24;
  const max = () => Math.max(1, ...props.days.map((d) => d.count));
  // Capped so a handful of days does not turn into a few wall-wide blocks.
  const barW = () => Math.min(48, (W - PAD * 2) / Math.max(1, props.days.length));
  const label = (day: string) => df.format(new Date(`${day}T00:00:00Z`));
  const summary = () =>
    props.days.length
      ? `Anmeldungen pro Tag vom ${label(props.days[0].day)} bis ${label(props.days[props.days.length - 1].day)}, höchstens ${max()} an einem Tag.`
      : 'Noch keine Anmeldungen.';
  return (
    <div class="chart">
      <Show when={props.days.length} fallback={<p>Noch keine Anmeldungen.</p>}>
        <svg viewBox={`0 0 ${W} ${H + 20}`} role="img" aria-labelledby="day-chart-title">
          <title id="day-chart-title">{summary()}</title>
          <For each={props.days}>
            {(d, i) => {
              const h = () => ((H - PAD) * d.count) / max();
              return (
                <g>
                  <rect x={PAD + i() * barW() + 1} y={H - h()} width={Math.max(1, barW() - 2)} height={h()}>
                    <title>
                      {label(d.day)}: {d.count}
                    </title>
                  </rect>
                  <Show when={props.days.length <= 31 || i() % Math.ceil(props.days.length / 15) === 0}>
                    <text x={PAD + i() * barW() + barW() / 2} y={H + 14} text-anchor="middle">
                      {label(d.day)}
                    </text>
                  </Show>
                </g>
              );
            }}
          </For>
          <text x={PAD} y={12}>
            max. {max()}
          </text>
        </svg>
      </Show>
    </div>
  );
}
