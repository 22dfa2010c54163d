import { Field, controlAttrs } from './filter-field';
import { beforeFromDay, dayFromAfter, dayFromBefore } from './upload-search';

interface Props {
  /** The API's filter pair: `<prefix>_after` and `<prefix>_before`. */
  prefix: 'created' | 'taken';
  labels: [from: string, to: string];
  params: Record<string, string | undefined>;
  errors: (name: string) => string[] | undefined;
  /** URL changes, by the API's names; '' removes a filter. */
  onChange: (changes: Record<string, string | undefined>) => void;
}

/** A from/to pair of day fields: "from" is the day's start, "to" includes its whole day (the API's `_before` is exclusive). */
export function DayRangeFields({ prefix, labels, params, errors, onChange }: Props) {
  const after = `${prefix}_after`;
  const before = `${prefix}_before`;
  return (
    <>
      <Field name={after} label={labels[0]} errors={errors(after)}>
        <input
          {...controlAttrs(after, errors(after))}
          type="date"
          value={dayFromAfter(params[after])}
          onChange={(e) => onChange({ [after]: e.currentTarget.value })}
        />
      </Field>
      <Field name={before} label={labels[1]} errors={errors(before)}>
        <input
          {...controlAttrs(before, errors(before))}
          type="date"
          value={dayFromBefore(params[before])}
          onChange={(e) => onChange({ [before]: beforeFromDay(e.currentTarget.value) })}
        />
      </Field>
    </>
  );
}
