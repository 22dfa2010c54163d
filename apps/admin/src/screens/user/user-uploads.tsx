import { api, errorText, unwrap } from '../../api/client';
import { CursorPager } from '../../components/cursor-pager';
import { Pager } from '../../components/pager';
import { UploadGrid } from '../../components/upload-grid';
import { useAsync } from '../../components/use-async';
import { pageOf, useUrlState } from '../../components/url-state';
import { UploadFilters } from './upload-filters';
import { FILTER_KEYS, searchQuery, type UploadsQuery } from './upload-search';

const PAGE_SIZES = [12, 24, 48, 96];
const DEFAULT_PAGE_SIZE = 24;

type FieldErrors = Record<string, string[]>;
type UploadPage = NonNullable<Awaited<ReturnType<typeof fetchPage>>['data']>;
type Loaded =
  { kind: 'page'; list: UploadPage; placeholders: Map<string, string> } | { kind: 'invalid'; errors: FieldErrors };

const fetchPage = (id: number, query: UploadsQuery) =>
  api.GET('/api/admin/users/{id}/uploads', { params: { path: { id }, query } });

/**
 * A user's uploads: the search bar, a thumbnail grid and its paging, all state in the URL.
 * Numbered pages show the total; cursor paging (`paging=cursor`) walks deep lists without
 * OFFSET or COUNT. Changing a filter or the ordering starts again from the first page (a cursor
 * is only valid in the ordering and filters it was taken in).
 */
export function UserUploads(props: { id: number }) {
  const { id } = props;
  const { params, update } = useUrlState();
  const page = pageOf(params.page);
  const cursorMode = params.paging === 'cursor';
  const pageSize = PAGE_SIZES.includes(Number(params.page_size)) ? Number(params.page_size) : DEFAULT_PAGE_SIZE;
  const search = searchQuery(params);
  const searchKey = JSON.stringify(search);

  const uploads = useAsync(async (): Promise<Loaded> => {
    const paging = cursorMode ? { cursor: params.cursor ?? '' } : { page: String(page) };
    const result = await fetchPage(id, { ...search, ...paging, page_size: pageSize });
    // A refused filter: its messages go next to the fields (the grid keeps no stale results).
    if (result.response.status === 400 && result.error && typeof result.error === 'object')
      return { kind: 'invalid', errors: result.error as FieldErrors };
    const list = unwrap(result);
    // The grid's ThumbHash placeholders: one request for the page's completed analyses.
    const done = list.results.filter((u) => u.analysis?.status === 'completed').map((u) => u.id);
    const placeholders = new Map<string, string>();
    if (done.length) {
      const analyses = unwrap(
        await api.GET('/api/admin/visual-analysis', {
          params: { query: { upload_ids: done.join(','), status: 'completed', page_size: 200 } },
        }),
      );
      for (const a of analyses.results) {
        const hash = (a.result as { placeholder?: string } | null)?.placeholder;
        if (hash && !placeholders.has(a.upload_id)) placeholders.set(a.upload_id, hash);
      }
    }
    return { kind: 'page', list, placeholders };
  }, [id, page, pageSize, cursorMode, params.cursor, searchKey]);

  const data = uploads.data;
  const invalid = data?.kind === 'invalid' ? data.errors : {};
  // Errors the bar has no field for (none expected; shown rather than dropped).
  const otherErrors = Object.fromEntries(
    Object.entries(invalid).filter(([key]) => !(FILTER_KEYS as readonly string[]).includes(key)),
  );
  const list = data?.kind === 'page' ? data : undefined;
  const filtered = Object.keys(search).some((key) => key !== 'ordering');
  const takenOrder = params.ordering === 'taken_at' || params.ordering === '-taken_at';

  return (
    <section aria-labelledby="uploads-heading">
      <div class="list-head">
        <h2 id="uploads-heading">Uploads</h2>
        <span class="list-options">
          <label>
            Paging
            <select
              value={cursorMode ? 'cursor' : 'pages'}
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
              value={String(pageSize)}
              onChange={(e) =>
                update({
                  page_size: Number(e.currentTarget.value) === DEFAULT_PAGE_SIZE ? undefined : e.currentTarget.value,
                  page: undefined,
                  cursor: undefined,
                })
              }
            >
              {PAGE_SIZES.map((n) => (
                <option key={n} value={String(n)}>
                  {n}
                </option>
              ))}
            </select>
          </label>
        </span>
      </div>
      <UploadFilters
        params={params}
        errors={invalid}
        onChange={(changes) => update({ ...changes, page: undefined, cursor: undefined })}
      />
      {uploads.error && (
        <p role="alert" class="error">
          {uploads.error}
        </p>
      )}
      {Object.keys(invalid).length > 0 && (
        <p role="alert" class="error">
          {Object.keys(otherErrors).length
            ? errorText(otherErrors)
            : 'The API refused a filter: see the message next to it.'}
        </p>
      )}
      {list && (
        <div aria-busy={uploads.loading}>
          <UploadGrid
            uploads={list.list.results}
            placeholders={list.placeholders}
            date={takenOrder ? 'taken_at' : 'created_at'}
            empty={filtered ? 'No uploads match these filters.' : 'No uploads.'}
          />
          {cursorMode ? (
            <CursorPager
              next={list.list.next}
              previous={list.list.previous}
              atStart={!params.cursor}
              onCursor={(cursor) => update({ cursor })}
            />
          ) : (
            <Pager
              count={list.list.count ?? 0}
              page={page}
              pageSize={pageSize}
              onPage={(p) => update({ page: p === 1 ? undefined : p })}
            />
          )}
        </div>
      )}
    </section>
  );
}
