/**
 * Per-day bars in SVG, drawn by hand (a chart library would multiply the bundle for two charts).
 * Each series stacks; every bar has a <title> (hover / screen readers) and the figure a summary.
 */
export interface Series {
  name: string;
  className: string;
  values: number[];
}

export function BarChart(props: { label: string; days: string[]; series: Series[] }) {
  const width = 600;
  const height = 160;
  const totals = props.days.map((_, i) => props.series.reduce((n, s) => n + s.values[i], 0));
  const max = Math.max(1, ...totals);
  const slot = width / props.days.length;
  const summary = `${props.label}: ${props.series.map((s) => `${s.name} ${s.values.reduce((a, b) => a + b, 0)}`).join(', ')} over ${props.days.length} days`;
  return (
    <figure class="chart">
      <figcaption>{props.label}</figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={summary} preserveAspectRatio="none">
        {props.days.map((day, i) => {
          let y = height;
          return (
            <g key={day}>
              {props.series.map((s) => {
                const h = (s.values[i] / max) * (height - 4);
                y -= h;
                return h > 0 ? (
                  <rect
                    key={s.name}
                    class={s.className}
                    x={i * slot + 1}
                    y={y}
                    width={Math.max(1, slot - 2)}
                    height={h}
                  >
                    <title>{`${day}: ${s.name} ${s.values[i]}`}</title>
                  </rect>
                ) : null;
              })}
            </g>
          );
        })}
        <line x1="0" y1={height} x2={width} y2={height} class="axis" />
      </svg>
      {/* Outside the SVG: its non-uniform scaling would stretch text. */}
      <p class="ticks" aria-hidden="true">
        <span>{props.days[0]}</span>
        <span>{props.days[props.days.length - 1]}</span>
      </p>
      <p class="legend">
        {props.series.map((s) => (
          <span key={s.name}>
            <i class={`swatch ${s.className}`} /> {s.name}
          </span>
        ))}
        <span class="muted">max {max}/day</span>
      </p>
    </figure>
  );
}
