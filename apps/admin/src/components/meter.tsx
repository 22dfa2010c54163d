/** A labelled horizontal bar for a 0…max measure (a <meter>, so assistive tech reads the value). */
export function Meter(props: { label: string; value: number; max: number; display?: string }) {
  const id = `m-${props.label.replace(/\W+/g, '-').toLowerCase()}`;
  return (
    <div class="meter">
      <label for={id}>{props.label}</label>
      <meter id={id} min={0} max={props.max} value={Math.min(props.value, props.max)} />
      <span>{props.display ?? props.value.toFixed(2)}</span>
    </div>
  );
}
