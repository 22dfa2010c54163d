import type { operations } from '../api/schema';

/** The query of `GET /api/admin/users/{id}/uploads`, as the generated types describe it. */
export type UploadsQuery = NonNullable<operations['AdminUploadsController_userUploads']['parameters']['query']>;

/**
 * The search filters, named as the API names them: the screen's URL carries them under the same
 * names, so a console URL and the API call it makes read alike.
 */
export const FILTER_KEYS = [
  'q',
  'taken_after',
  'taken_before',
  'ordering',
  'format',
  'orientation',
  'camera_make',
  'camera_model',
  'has_gps',
  'blurry',
  'min_width',
  'min_height',
  'color',
  'color_distance',
] as const satisfies ReadonlyArray<keyof UploadsQuery>;
export type FilterKey = (typeof FILTER_KEYS)[number];

/** The filters behind "More filters" (the bar shows the others at once). */
export const MORE_KEYS: readonly FilterKey[] = [
  'camera_make',
  'camera_model',
  'has_gps',
  'blurry',
  'min_width',
  'min_height',
  'color',
  'color_distance',
];

export const ORDERINGS: Array<[NonNullable<UploadsQuery['ordering']>, string]> = [
  ['-created_at', 'Newest upload first'],
  ['created_at', 'Oldest upload first'],
  ['-taken_at', 'Newest taken first'],
  ['taken_at', 'Oldest taken first'],
];

export const FORMATS: Array<NonNullable<UploadsQuery['format']>> = [
  'jpeg',
  'png',
  'webp',
  'gif',
  'tiff',
  'heic',
  'avif',
  'heif',
];

export const ORIENTATIONS: Array<NonNullable<UploadsQuery['orientation']>> = ['landscape', 'portrait', 'square'];

/** The API's default ΔE for `color` (libs/uploads DEFAULT_COLOR_DISTANCE), shown as the placeholder. */
export const DEFAULT_COLOR_DISTANCE = 15;

/** The filters set in the URL (empty values are never written there). */
export function activeFilters(params: Record<string, string>): Partial<Record<FilterKey, string>> {
  const out: Partial<Record<FilterKey, string>> = {};
  for (const key of FILTER_KEYS) if (params[key]) out[key] = params[key];
  return out;
}

/**
 * The API query for the URL's filters. Values go as the URL has them, unparsed: the API validates
 * them and its 400 names the field, which the bar shows next to it (one source of truth for what
 * is valid). `color_distance` alone means nothing, so it only goes with a colour.
 */
export function searchQuery(params: Record<string, string>): UploadsQuery {
  const filters = activeFilters(params);
  if (!filters.color) delete filters.color_distance;
  return filters as unknown as UploadsQuery;
}

const DAY_MS = 86_400_000;
const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * A day range's "to" day is inclusive in the bar; the API's `*_before` filters are exclusive, so
 * the URL holds the next day. Days are UTC days: a taken-at without a recorded offset is its
 * camera's wall clock read as UTC (so a UTC day is the day the camera showed), and the overview's
 * "uploads today" counts UTC days too.
 */
export function beforeFromDay(day: string): string {
  if (!ISO_DAY.test(day)) return day;
  return new Date(Date.parse(`${day}T00:00:00Z`) + DAY_MS).toISOString().slice(0, 10);
}

/** The inclusive "to" day shown for a `*_before` value (a day or an instant); '' when unreadable. */
export function dayFromBefore(value: string | undefined): string {
  if (!value) return '';
  const time = Date.parse(ISO_DAY.test(value) ? `${value}T00:00:00Z` : value);
  return Number.isNaN(time) ? '' : new Date(time - 1).toISOString().slice(0, 10);
}

/** The "from" day shown for a `*_after` value (a day or an instant); '' when unreadable. */
export function dayFromAfter(value: string | undefined): string {
  if (!value) return '';
  if (ISO_DAY.test(value)) return value;
  const time = Date.parse(value);
  return Number.isNaN(time) ? '' : new Date(time).toISOString().slice(0, 10);
}

/** Today's UTC day, as the date fields write it. */
export const todayUtc = () => new Date().toISOString().slice(0, 10);
