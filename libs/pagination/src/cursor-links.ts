import type { CursorPosition } from './page-request.js';

/**
 * A keyset page from the rows a range scan returned (page_size + 1 of them, in scan order): the
 * items in newest-first order and the positions of the pages around them.
 */
export function cursorLinks<T>(
  rows: T[],
  size: number,
  position: CursorPosition | null,
  key: (row: T) => Omit<CursorPosition, 'direction'>,
): { items: T[]; next: CursorPosition | null; previous: CursorPosition | null } {
  const backwards = position?.direction === 'p';
  const more = rows.length > size;
  const items = rows.slice(0, size);
  if (backwards) items.reverse();

  const at = (row: T | undefined, direction: CursorPosition['direction']): CursorPosition | null =>
    row ? { ...key(row), direction } : null;
  const firstItem = items[0];
  const lastItem = items[items.length - 1];
  // Forward: there is a next page iff we fetched one extra row; a previous one iff we started from a cursor.
  // Backward: mirrored.
  const next = backwards
    ? (at(lastItem, 'n') ?? (position ? { ...position, direction: 'n' } : null))
    : more
      ? at(lastItem, 'n')
      : null;
  const previous = backwards
    ? more
      ? at(firstItem, 'p')
      : null
    : position
      ? (at(firstItem, 'p') ?? { ...position, direction: 'p' })
      : null;
  return { items, next, previous };
}
