import type { ComponentChildren } from 'preact';

/** The attributes a filter's control carries: its id for the label, and its error's wiring. */
export interface ControlAttrs {
  id: string;
  name: string;
  'aria-invalid'?: boolean;
  'aria-describedby'?: string;
}

/** `name` is the API's name for the filter, so the API's 400 (`{"name": [...]}`) lands on it. */
export function controlAttrs(name: string, errors: string[] | undefined): ControlAttrs {
  return {
    id: `f-${name}`,
    name,
    ...(errors?.length ? { 'aria-invalid': true, 'aria-describedby': `err-${name}` } : {}),
  };
}

/** A filter: its label over its control, and the messages the API (or the screen) gave for it. */
export function Field(props: { name: string; label: string; errors?: string[]; children: ComponentChildren }) {
  return (
    <div class="field">
      <label for={`f-${props.name}`}>{props.label}</label>
      {props.children}
      <FieldErrors name={props.name} errors={props.errors} />
    </div>
  );
}

export function FieldErrors(props: { name: string; errors?: string[] }) {
  if (!props.errors?.length) return null;
  return (
    <span class="field-error" id={`err-${props.name}`}>
      {props.errors.join(' ')}
    </span>
  );
}
