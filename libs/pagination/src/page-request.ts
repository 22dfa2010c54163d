import { NotFoundException } from '@nestjs/common';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

/** A position in a list's (date column, id) ordering; opaque to clients. */
export interface CursorPosition {
  /** The ordering's date column at this position (created_at unless the list is ordered otherwise). */
  createdAt: Date;
  id: string | number;
  /** n = the items after this position in the list's order, p = those before it. */
  direction: 'n' | 'p';
  /** The ordering the position was taken in, when not the list's default (a cursor of another ordering is refused). */
  order?: string;
}

export type PageRequest =
  { mode: 'page'; page: number; size: number } | { mode: 'cursor'; size: number; position: CursorPosition | null };

/** What a paginated handler returns; the interceptor turns it into the DRF body. */
export type PageResult<T> =
  | { mode: 'page'; items: T[]; count: number }
  | { mode: 'cursor'; items: T[]; next: CursorPosition | null; previous: CursorPosition | null };

/**
 * DRF PageNumberPagination semantics (rest_framework/pagination.py): a bad or missing page_size
 * falls back to the default, a large one is clamped; a non-numeric or < 1 page is 404.
 */
export function parsePageRequest(query: Record<string, unknown>): PageRequest {
  const rawSize = first(query.page_size);
  const parsedSize = rawSize !== undefined && /^\d+$/.test(rawSize) ? Number(rawSize) : NaN;
  const size = parsedSize > 0 ? Math.min(parsedSize, MAX_PAGE_SIZE) : DEFAULT_PAGE_SIZE;

  const rawCursor = first(query.cursor);
  if (rawCursor !== undefined)
    return { mode: 'cursor', size, position: rawCursor === '' ? null : decodeCursor(rawCursor) };

  const rawPage = first(query.page);
  // DRF: `query_params.get('page') or 1`, so an empty ?page= is page 1.
  if (rawPage === undefined || rawPage === '' || rawPage === 'last')
    return { mode: 'page', page: rawPage === 'last' ? -1 : 1, size };
  if (!/^\d+$/.test(rawPage) || Number(rawPage) < 1 || !Number.isSafeInteger(Number(rawPage))) throw invalidPage();
  return { mode: 'page', page: Number(rawPage), size };
}

export function invalidPage(): NotFoundException {
  return new NotFoundException('Invalid page.');
}

export function invalidCursor(): NotFoundException {
  return new NotFoundException('Invalid cursor.');
}

export function encodeCursor(position: CursorPosition): string {
  const id = typeof position.id === 'number' ? position.id : `s${position.id}`;
  const parts: unknown[] = [position.createdAt.getTime(), id, position.direction];
  if (position.order) parts.push(position.order);
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

function decodeCursor(raw: string): CursorPosition {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    if (!Array.isArray(parsed) || parsed.length < 3 || parsed.length > 4) throw new Error();
    const [time, id, direction, order] = parsed as unknown[];
    // Number.isFinite is not enough: 1e300 is finite but not a Date (it would become a NaN cursor link).
    if (typeof time !== 'number' || Number.isNaN(new Date(time).getTime()) || (direction !== 'n' && direction !== 'p'))
      throw new Error();
    if (order !== undefined && (typeof order !== 'string' || !/^-?[a-z_]{1,32}$/.test(order))) throw new Error();
    const rest = order === undefined ? {} : { order };
    if (typeof id === 'number' && Number.isSafeInteger(id))
      return { createdAt: new Date(time), id, direction, ...rest };
    if (typeof id === 'string' && id.startsWith('s') && id.length <= 65)
      return { createdAt: new Date(time), id: id.slice(1), direction, ...rest };
    throw new Error();
  } catch {
    throw invalidCursor();
  }
}

function first(value: unknown): string | undefined {
  if (Array.isArray(value)) return value.length ? String(value[0]) : undefined;
  return value === undefined ? undefined : String(value);
}
