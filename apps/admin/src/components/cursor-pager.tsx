/**
 * Keyset paging (DRF cursor mode): previous / next follow the page's links, and "First page"
 * starts over. No total: cursor mode never counts, which is what keeps deep pages cheap.
 */
export function CursorPager(props: {
  next: string | null | undefined;
  previous: string | null | undefined;
  atStart: boolean;
  /** The cursor to load; undefined for the first page. */
  onCursor: (cursor: string | undefined) => void;
}) {
  const previous = cursorOf(props.previous);
  const next = cursorOf(props.next);
  return (
    <nav class="pager" aria-label="Pagination">
      <button type="button" disabled={!previous} onClick={() => previous && props.onCursor(previous)}>
        ← Previous
      </button>
      <span>
        {props.atStart ? (
          'First page'
        ) : (
          <button type="button" class="link" onClick={() => props.onCursor(undefined)}>
            Back to the first page
          </button>
        )}
      </span>
      <button type="button" disabled={!next} onClick={() => next && props.onCursor(next)}>
        Next →
      </button>
    </nav>
  );
}

/** The cursor of a cursor-mode `next`/`previous` link (an absolute URL), or null. */
export function cursorOf(link: string | null | undefined): string | null {
  if (!link) return null;
  try {
    return new URL(link, location.origin).searchParams.get('cursor');
  } catch {
    return null;
  }
}
