import { api, unwrap } from '../../api/client';
import type { operations } from '../../api/schema';
import { DayRangeFields } from '../../components/day-range';
import { Field, controlAttrs } from '../../components/filter-field';
import { FilterErrors, refusedFilters, type FieldErrors } from '../../components/filter-errors';
import { ListPager, PagingOptions, pagingOf } from '../../components/upload-paging';
import { useAsync } from '../../components/use-async';
import { useUrlState } from '../../components/url-state';
import { OwnerFilter } from '../uploads/owner-filter';
import { ACTIONS, AuditTable } from './audit-entries';

type AuditQuery = NonNullable<operations['AuditLogController_list']['parameters']['query']>;

const PAGE_SIZES = [25, 50, 100, 200];
const DEFAULT_PAGE_SIZE = 50;
/** The filters, named as the API (and so the URL) names them. */
const FILTER_KEYS = ['actor_id', 'action', 'target_type', 'target_id', 'created_after', 'created_before'] as const;
const TARGET_TYPES: Array<[string, string]> = [
  ['user', 'User'],
  ['upload', 'Upload'],
  ['analysis', 'Analysis'],
];

type Loaded =
  | { kind: 'page'; list: NonNullable<Awaited<ReturnType<typeof fetchPage>>['data']> }
  | { kind: 'invalid'; errors: FieldErrors };

const fetchPage = (query: AuditQuery) => api.GET('/api/admin/audit-log', { params: { query } });

/** The URL's filter values as they are: the API validates them and names the field it refuses. */
function filterQuery(params: Record<string, string>): AuditQuery {
  const out: Record<string, string> = {};
  for (const key of FILTER_KEYS) if (params[key]) out[key] = params[key];
  return out as unknown as AuditQuery;
}

/**
 * Who did what, newest first: every admin action the API recorded, filtered by actor, action,
 * target and day range, all in the URL (a reload or a pasted link shows the same entries);
 * numbered or cursor pages as on the Uploads screen. Read-only: the log is append-only.
 */
export function AuditLog() {
  const { params, update } = useUrlState();
  const paging = pagingOf(params, PAGE_SIZES, DEFAULT_PAGE_SIZE);
  const query = filterQuery(params);
  const queryKey = JSON.stringify(query);

  const log = useAsync(async (): Promise<Loaded> => {
    const result = await fetchPage({ ...query, ...paging.query, page_size: paging.pageSize } as AuditQuery);
    const refused = refusedFilters(result);
    if (refused) return { kind: 'invalid', errors: refused };
    return { kind: 'page', list: unwrap(result) };
  }, [paging.page, paging.pageSize, paging.cursorMode, params.cursor, queryKey]);

  const invalid = log.data?.kind === 'invalid' ? log.data.errors : {};
  const list = log.data?.kind === 'page' ? log.data.list : undefined;
  const errors = (name: string) => invalid[name];
  // A new filter starts from the first page: a page number or cursor belongs to the old list.
  const setFilters = (changes: Record<string, string | undefined>) =>
    update({ ...changes, page: undefined, cursor: undefined });
  const set = Object.keys(query).length > 0;
  // An action the URL names that the list does not know (a newer API's) stays selectable.
  const actions =
    params.action && !ACTIONS.some(([a]) => a === params.action)
      ? [...ACTIONS, [params.action, params.action]]
      : ACTIONS;

  return (
    <section>
      <header class="list-head screen-head">
        <h1>Audit log</h1>
        <PagingOptions paging={paging} sizes={PAGE_SIZES} defaultSize={DEFAULT_PAGE_SIZE} update={update} />
      </header>
      <form
        class="search-bar audit-filters"
        role="search"
        aria-label="Filter the audit log"
        noValidate
        onSubmit={(e) => {
          // Enter in the target id: apply it as typed.
          e.preventDefault();
          const form = new FormData(e.currentTarget);
          setFilters({ target_id: String(form.get('target_id') ?? '').trim() });
        }}
      >
        <div class="filters">
          <OwnerFilter
            name="actor_id"
            label="Actor"
            userId={params.actor_id}
            errors={errors('actor_id')}
            onChange={(id) => setFilters({ actor_id: id })}
          />
          <Field name="action" label="Action" errors={errors('action')}>
            <select
              {...controlAttrs('action', errors('action'))}
              value={params.action ?? ''}
              onChange={(e) => setFilters({ action: e.currentTarget.value })}
            >
              <option value="">Any</option>
              {actions.map(([value, label]) => (
                <option key={value} value={value}>
                  {value} · {label}
                </option>
              ))}
            </select>
          </Field>
          <Field name="target_type" label="Target type" errors={errors('target_type')}>
            <select
              {...controlAttrs('target_type', errors('target_type'))}
              value={params.target_type ?? ''}
              onChange={(e) => setFilters({ target_type: e.currentTarget.value })}
            >
              <option value="">Any</option>
              {TARGET_TYPES.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          </Field>
          <Field name="target_id" label="Target id" errors={errors('target_id')}>
            <input
              {...controlAttrs('target_id', errors('target_id'))}
              class="target-id"
              type="search"
              placeholder="user id or upload id"
              maxLength={64}
              autoComplete="off"
              key={params.target_id ?? ''}
              defaultValue={params.target_id ?? ''}
              onChange={(e) => setFilters({ target_id: e.currentTarget.value.trim() })}
            />
          </Field>
          <DayRangeFields
            prefix="created"
            labels={['From', 'To']}
            params={params}
            errors={errors}
            onChange={setFilters}
          />
        </div>
        {set && (
          <div class="bar-foot">
            <button
              type="button"
              class="link"
              onClick={() => setFilters(Object.fromEntries(FILTER_KEYS.map((key) => [key, undefined])))}
            >
              Clear filters
            </button>
          </div>
        )}
      </form>
      {log.error && (
        <p role="alert" class="error">
          {log.error}
        </p>
      )}
      <FilterErrors errors={invalid} fields={FILTER_KEYS} />
      {list && (
        <div aria-busy={log.loading}>
          <AuditTable
            entries={list.results}
            caption="Audit log"
            busy={log.loading}
            empty={set ? 'No entries match these filters.' : 'No admin action recorded yet.'}
          />
          <ListPager paging={paging} list={list} atStart={!params.cursor} update={update} />
        </div>
      )}
    </section>
  );
}
