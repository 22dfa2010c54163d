const TRUE = new Set(['true', '1', 'yes']);
const FALSE = new Set(['false', '0', 'no']);

/**
 * The one boolean reading for strings from outside (environment variables, query parameters):
 * true/1/yes and false/0/no, any case. Anything else is returned as it came, so the
 * `@IsBoolean()` after it rejects it with the field's name.
 */
export function parseBool(value: unknown): unknown {
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  return TRUE.has(v) ? true : FALSE.has(v) ? false : value;
}

/** `@Transform(toBool)` for class-transformer. */
export const toBool = ({ value }: { value: unknown }): unknown => parseBool(value);
