import { api, unwrap } from '../../api/client';
import { FilterErrors, refusedFilters, type FieldErrors } from '../../components/filter-errors';
import { placeholdersFor } from '../../components/placeholders';
import { UploadFilters } from '../../components/upload-filters';
import { UploadGrid } from '../../components/upload-grid';
import { ListPager, PagingOptions, pagingOf } from '../../components/upload-paging';
import { FILTER_KEYS, searchQuery, type UploadsQuery } from '../../components/upload-search';
import { useAsync } from '../../components/use-async';
import { useUrlState } from '../../components/url-state';

const PAGE_SIZES = [12, 24, 48, 96];
const DEFAULT_PAGE_SIZE = 24;

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
  const paging = pagingOf(params, PAGE_SIZES, DEFAULT_PAGE_SIZE);
  const search = searchQuery(params);
  const searchKey = JSON.stringify(search);

  const uploads = useAsync(async (): Promise<Loaded> => {
    const result = await fetchPage(id, { ...search, ...paging.query, page_size: paging.pageSize });
    // A refused filter: its messages go next to the fields (the grid keeps no stale results).
    const refused = refusedFilters(result);
    if (refused) return { kind: 'invalid', errors: refused };
    const list = unwrap(result);
    return { kind: 'page', list, placeholders: await placeholdersFor(list.results) };
  }, [id, paging.page, paging.pageSize, paging.cursorMode, params.cursor, searchKey]);

  const data = uploads.data;
  const invalid = data?.kind === 'invalid' ? data.errors : {};
  const list = data?.kind === 'page' ? data : undefined;
  const filtered = Object.keys(search).some((key) => key !== 'ordering');
  const takenOrder = params.ordering === 'taken_at' || params.ordering === '-taken_at';

  return (
    <section aria-labelledby="uploads-heading">
      <div class="list-head">
        <h2 id="uploads-heading">Uploads</h2>
        <PagingOptions paging={paging} sizes={PAGE_SIZES} defaultSize={DEFAULT_PAGE_SIZE} update={update} />
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
      <FilterErrors errors={invalid} fields={FILTER_KEYS} />
      {list && (
        <div aria-busy={uploads.loading}>
          <UploadGrid
            uploads={list.list.results}
            placeholders={list.placeholders}
            date={takenOrder ? 'taken_at' : 'created_at'}
            empty={filtered ? 'No uploads match these filters.' : 'No uploads.'}
          />
          <ListPager paging={paging} list={list.list} atStart={!params.cursor} update={update} />
        </div>
      )}
    </section>
  );
}
