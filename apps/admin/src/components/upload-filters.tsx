import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Field, FieldErrors, controlAttrs, type ControlAttrs } from './filter-field';
import {
  DEFAULT_COLOR_DISTANCE,
  FORMATS,
  MORE_KEYS,
  ORDERINGS,
  ORIENTATIONS,
  activeFilters,
  beforeFromDay,
  dayFromAfter,
  dayFromBefore,
  type FilterKey,
} from './upload-search';

/** URL changes, by the API's names; '' removes a filter. */
export type FilterChanges = Record<string, string | undefined>;

interface Props {
  /** The screen's URL query (the filters' state). */
  params: Record<string, string>;
  /** The API's 400 body ({"field": ["message"]}) for the current filters, if it refused them. */
  errors: Record<string, string[]>;
  onChange: (changes: FilterChanges) => void;
  /** A screen's own filters, shown in a row before the search filters (e.g. owner, status). */
  extra?: ComponentChildren;
  /** Their URL keys, so that "Clear filters" clears them too. */
  extraKeys?: readonly string[];
}

/**
 * The upload search bar: every filter of the uploads list, named as the API names them. A select
 * applies when picked, a text, number or date field when committed (Enter or leaving it). The
 * form does not validate itself (noValidate): the API's 400 is shown next to the field it names.
 */
export function UploadFilters({ params, errors, onChange, extra, extraKeys = [] }: Props) {
  const active = activeFilters(params);
  const moreSet = MORE_KEYS.filter((key) => active[key]).length;
  const filtersSet = [
    ...Object.keys(active).filter((key) => key !== 'ordering'),
    ...extraKeys.filter((key) => params[key]),
  ];
  // Open at first when one of its filters is set (a deep link), then as the admin leaves it.
  const [moreOpen, setMoreOpen] = useState(moreSet > 0);
  useEffect(() => {
    if (moreSet > 0) setMoreOpen(true);
  }, [moreSet > 0]);

  const field = (name: FilterKey, label: string, control: (a: ControlAttrs) => ComponentChildren) => (
    <Field name={name} label={label} errors={errors[name]}>
      {control(controlAttrs(name, errors[name]))}
    </Field>
  );
  // Uncontrolled text fields, re-created when the URL changes under them (back, forward, clear).
  const text = (name: FilterKey, label: string, extra: Record<string, unknown> = {}) =>
    field(name, label, (a) => (
      <input
        {...a}
        {...extra}
        key={params[name] ?? ''}
        defaultValue={params[name] ?? ''}
        onChange={(e) => onChange({ [name]: e.currentTarget.value.trim() })}
      />
    ));
  const select = (name: FilterKey, label: string, options: Array<[string, string]>) =>
    field(name, label, (a) => (
      <select {...a} value={params[name] ?? ''} onChange={(e) => onChange({ [name]: e.currentTarget.value })}>
        {options.map(([value, text]) => (
          <option key={value} value={value}>
            {text}
          </option>
        ))}
      </select>
    ));

  const submit = (event: Event) => {
    // Enter in a text field: apply every text field as typed (a field's own change may not have fired yet).
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const changes: FilterChanges = {};
    for (const key of ['q', 'camera_make', 'camera_model', 'min_width', 'min_height', 'color_distance'] as const)
      if (form.has(key)) changes[key] = String(form.get(key)).trim();
    onChange(changes);
  };

  return (
    <form class="search-bar" role="search" aria-label="Search uploads" noValidate onSubmit={submit}>
      {extra && <div class="filters screen-filters">{extra}</div>}
      <div class="filters">
        <div class="search-q">
          {text('q', 'Search', { type: 'search', placeholder: 'words in title or file name', maxLength: 100 })}
          <button type="submit">Search</button>
        </div>
        {field('taken_after', 'Taken from', (a) => (
          <input
            {...a}
            type="date"
            value={dayFromAfter(params.taken_after)}
            onChange={(e) => onChange({ taken_after: e.currentTarget.value })}
          />
        ))}
        {field('taken_before', 'Taken to', (a) => (
          <input
            {...a}
            type="date"
            value={dayFromBefore(params.taken_before)}
            onChange={(e) => onChange({ taken_before: beforeFromDay(e.currentTarget.value) })}
          />
        ))}
        {field('ordering', 'Order', (a) => (
          <select
            {...a}
            value={params.ordering ?? '-created_at'}
            // The default ordering stays out of the URL.
            onChange={(e) =>
              onChange({ ordering: e.currentTarget.value === '-created_at' ? '' : e.currentTarget.value })
            }
          >
            {ORDERINGS.map(([value, text]) => (
              <option key={value} value={value}>
                {text}
              </option>
            ))}
          </select>
        ))}
        {select('format', 'Format', [['', 'Any'], ...FORMATS.map((f): [string, string] => [f, f.toUpperCase()])])}
        {select('orientation', 'Orientation', [
          ['', 'Any'],
          ...ORIENTATIONS.map((o): [string, string] => [o, o[0].toUpperCase() + o.slice(1)]),
        ])}
      </div>
      <div class="bar-foot">
        <details class="more" open={moreOpen} onToggle={(e) => setMoreOpen(e.currentTarget.open)}>
          <summary>More filters{moreSet ? ` (${moreSet})` : ''}</summary>
          <div class="filters">
            {text('camera_make', 'Camera make', { placeholder: 'e.g. Apple', maxLength: 64, size: 12 })}
            {text('camera_model', 'Camera model', { placeholder: 'e.g. iPhone 15 Pro', maxLength: 64, size: 14 })}
            {select('has_gps', 'Location', [
              ['', 'Any'],
              ['true', 'Has GPS'],
              ['false', 'No GPS'],
            ])}
            {select('blurry', 'Sharpness', [
              ['', 'Any'],
              ['true', 'Blurry'],
              ['false', 'Sharp'],
            ])}
            {text('min_width', 'Min width (px)', {
              type: 'number',
              min: 1,
              step: 1,
              inputMode: 'numeric',
              class: 'num',
            })}
            {text('min_height', 'Min height (px)', {
              type: 'number',
              min: 1,
              step: 1,
              inputMode: 'numeric',
              class: 'num',
            })}
            <ColorFilter params={params} errors={errors} onChange={onChange} />
          </div>
        </details>
        {filtersSet.length > 0 && (
          <button
            type="button"
            class="link"
            // The ordering is not a filter: it stays.
            onClick={() => onChange(Object.fromEntries(filtersSet.map((key) => [key, ''])))}
          >
            Clear filters
          </button>
        )}
      </div>
    </form>
  );
}

/**
 * Dominant colour: a picker (a colour input always holds a colour, so "any" is a separate state,
 * shown dimmed until one is picked) and the ΔE distance, which only means something with a colour.
 */
function ColorFilter({ params, errors, onChange }: Props) {
  const color = params.color;
  const distanceErrors = errors.color_distance;
  return (
    <fieldset class="color-filter" aria-describedby={errors.color ? 'err-color' : undefined}>
      <legend>Dominant colour</legend>
      <span class="color-row">
        <input
          type="color"
          name="color"
          aria-label="Colour"
          aria-invalid={errors.color ? true : undefined}
          class={color ? undefined : 'unset'}
          value={color && /^#?[0-9a-f]{6}$/i.test(color) ? `#${color.replace('#', '').toLowerCase()}` : '#808080'}
          onChange={(e) => onChange({ color: e.currentTarget.value })}
        />
        <input
          {...controlAttrs('color_distance', distanceErrors)}
          aria-label="Colour distance (ΔE)"
          title="CIELAB ΔE: ~2 barely visible, 10 close shades, 15 same colour family, 30 loose"
          type="number"
          class="num"
          min={0}
          max={100}
          step="any"
          placeholder={`ΔE ${DEFAULT_COLOR_DISTANCE}`}
          disabled={!color}
          key={params.color_distance ?? ''}
          defaultValue={params.color_distance ?? ''}
          onChange={(e) => onChange({ color_distance: e.currentTarget.value.trim() })}
        />
        {color && (
          <button
            type="button"
            aria-label="Any colour"
            title="Any colour"
            onClick={() => onChange({ color: '', color_distance: '' })}
          >
            ×
          </button>
        )}
      </span>
      <FieldErrors name="color" errors={errors.color} />
      <FieldErrors name="color_distance" errors={distanceErrors} />
    </fieldset>
  );
}
