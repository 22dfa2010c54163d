import { CursorPager } from './cursor-pager';
import { Pager } from './pager';
import { pageOf } from './url-state';

/** How a list screen pages, read from its URL (`page` or `paging=cursor` + `cursor`, `page_size`). */
export interface Paging {
  page: number;
  cursorMode: boolean;
  pageSize: number;
  /** The API's paging parameters for this state. */
  query: { cursor: string } | { page: string };
}

export function pagingOf(params: Record<string, string>, sizes: readonly number[], defaultSize: number): Paging {
  const cursorMode = params.paging === 'cursor';
  const page = pageOf(params.page);
  return {
    page,
    cursorMode,
    pageSize: sizes.includes(Number(params.page_size)) ? Number(params.page_size) : defaultSize,
    query: cursorMode ? { cursor: params.cursor ?? '' } : { page: String(page) },
  };
}

type Update = (changes: Record<string, string | number | undefined>) => void;

/**
 * Numbered pages (with the total) or cursor paging (`paging=cursor`: deep lists without OFFSET or
 * COUNT), and the page size. Either change starts again from the first page.
 */
export function PagingOptions(props: {
  paging: Paging;
  sizes: readonly number[];
  defaultSize: number;
  update: Update;
}) {
  const { paging, update } = props;
  return (
    <span class="list-options">
      <label>
        Paging
        <select
          value={paging.cursorMode ? 'cursor' : 'pages'}
          onChange={(e) =>
            update({
              paging: e.currentTarget.value === 'cursor' ? 'cursor' : undefined,
              page: undefined,
              cursor: undefined,
            })
          }
        >
          <option value="pages">Numbered pages</option>
          <option value="cursor">Cursor (fast on deep lists)</option>
        </select>
      </label>
      <label>
        Per page
        <select
          value={String(paging.pageSize)}
          onChange={(e) =>
            update({
              page_size: Number(e.currentTarget.value) === props.defaultSize ? undefined : e.currentTarget.value,
              page: undefined,
              cursor: undefined,
            })
          }
        >
          {props.sizes.map((n) => (
            <option key={n} value={String(n)}>
              {n}
            </option>
          ))}
        </select>
      </label>
    </span>
  );
}

/** The pager for the paging mode: previous/next by cursor, or numbered with the total. */
export function ListPager(props: {
  paging: Paging;
  list: { count?: number | null; next?: string | null; previous?: string | null };
  atStart: boolean;
  update: Update;
}) {
  const { paging, list, update } = props;
  return paging.cursorMode ? (
    <CursorPager
      next={list.next}
      previous={list.previous}
      atStart={props.atStart}
      onCursor={(cursor) => update({ cursor })}
    />
  ) : (
    <Pager
      count={list.count ?? 0}
      page={paging.page}
      pageSize={paging.pageSize}
      onPage={(p) => update({ page: p === 1 ? undefined : p })}
    />
  );
}
