import { errorText } from '../api/client';

/** A DRF 400 body: `{"field": ["message", …]}`. */
export type FieldErrors = Record<string, string[]>;

/** The API's 400 for a list's filters, or undefined when it answered otherwise. */
export function refusedFilters(result: { error?: unknown; response: Response }): FieldErrors | undefined {
  if (result.response.status === 400 && result.error && typeof result.error === 'object')
    return result.error as FieldErrors;
  return undefined;
}

/**
 * The alert over a list whose filters the API refused: the messages themselves sit next to their
 * fields; errors no field shows (none expected) are spelled out here rather than dropped.
 */
export function FilterErrors(props: { errors: FieldErrors; fields: readonly string[] }) {
  if (!Object.keys(props.errors).length) return null;
  const other = Object.fromEntries(Object.entries(props.errors).filter(([key]) => !props.fields.includes(key)));
  return (
    <p role="alert" class="error">
      {Object.keys(other).length ? errorText(other) : 'The API refused a filter: see the message next to it.'}
    </p>
  );
}
