import { useEffect, useRef, useState } from 'preact/hooks';
import { api, errorText, unwrap } from '../../api/client';
import type { operations } from '../../api/schema';
import { ConfirmButton } from '../../components/confirm-button';
import { DayRangeFields } from '../../components/day-range';
import { Field, controlAttrs } from '../../components/filter-field';
import { FilterErrors, refusedFilters, type FieldErrors } from '../../components/filter-errors';
import { placeholdersFor } from '../../components/placeholders';
import { UploadFilters, type FilterChanges } from '../../components/upload-filters';
import { ListPager, PagingOptions, pagingOf } from '../../components/upload-paging';
import { FILTER_KEYS, beforeFromDay, searchQuery, todayUtc } from '../../components/upload-search';
import { useAsync } from '../../components/use-async';
import { useUrlState } from '../../components/url-state';
import { deleteEach, type DeleteAnswer, type DeleteOutcome } from './bulk-delete';
import { OwnerFilter } from './owner-filter';
import { UploadsTable, typeName } from './uploads-table';
import './uploads.css';

type AdminUploadsQuery = NonNullable<operations['AdminUploadsController_all']['parameters']['query']>;

const PAGE_SIZES = [10, 25, 50, 100, 200];
const DEFAULT_PAGE_SIZE = 25;

/** This screen's filters besides the search bar's, named as the API names them (and the URL). */
const SCREEN_KEYS = ['user_id', 'content_type', 'analysis_status', 'created_after', 'created_before'] as const;
const CONTENT_TYPES: Array<NonNullable<AdminUploadsQuery['content_type']>> = [
  'image/jpeg',
  'image/png',
  'image/webp',
  'image/gif',
  'image/heic',
  'image/heif',
  'image/avif',
  'image/tiff',
];
const STATUSES: Array<[NonNullable<AdminUploadsQuery['analysis_status']>, string]> = [
  ['completed', 'Completed'],
  ['failed', 'Failed'],
  ['queued', 'Queued'],
  ['processing', 'Processing'],
];

type UploadPage = NonNullable<Awaited<ReturnType<typeof fetchPage>>['data']>;
type Loaded =
  { kind: 'page'; list: UploadPage; placeholders: Map<string, string> } | { kind: 'invalid'; errors: FieldErrors };
interface Summary {
  kind: 'ok' | 'error';
  text: string;
  failures: Array<{ id: string; name: string; reason: string }>;
}

const fetchPage = (query: AdminUploadsQuery) => api.GET('/api/admin/uploads', { params: { query } });

async function removeUpload(id: string): Promise<DeleteAnswer> {
  const result = await api.DELETE('/api/admin/uploads/{id}', { params: { path: { id } } });
  const status = result.response.status;
  const retryAfter = Number(result.response.headers.get('retry-after')) || undefined;
  return { status, retryAfter, message: errorText(result.error, `HTTP ${status}`) };
}

/** The URL's values for this screen's own filters, unparsed: the API validates them (400 by field). */
function screenQuery(params: Record<string, string>): Partial<AdminUploadsQuery> {
  const out: Record<string, string> = {};
  for (const key of SCREEN_KEYS) if (params[key]) out[key] = params[key];
  return out as Partial<AdminUploadsQuery>;
}

/**
 * Everyone's uploads, to moderate: the owner, file type, analysis status and upload-day filters
 * plus the search bar, all in the URL (reloads and links keep them); numbered or cursor pages;
 * select rows and delete them with one confirmation (bounded parallel deletes, see bulk-delete).
 */
export function Uploads() {
  const { params, update } = useUrlState();
  const paging = pagingOf(params, PAGE_SIZES, DEFAULT_PAGE_SIZE);
  const query = { ...searchQuery(params), ...screenQuery(params) } as AdminUploadsQuery;
  const queryKey = JSON.stringify(query);
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [progress, setProgress] = useState<{ settled: number; total: number } | null>(null);
  const [summary, setSummary] = useState<Summary | null>(null);
  /** Uploads to keep selected once the list reloads (the ones a bulk delete could not delete). */
  const keep = useRef<ReadonlySet<string>>(new Set());

  const uploads = useAsync(async (): Promise<Loaded> => {
    const result = await fetchPage({ ...query, ...paging.query, page_size: paging.pageSize });
    const refused = refusedFilters(result);
    if (refused) return { kind: 'invalid', errors: refused };
    const list = unwrap(result);
    return { kind: 'page', list, placeholders: await placeholdersFor(list.results) };
  }, [paging.page, paging.pageSize, paging.cursorMode, params.cursor, queryKey]);

  const data = uploads.data;
  const invalid = data?.kind === 'invalid' ? data.errors : {};
  const list = data?.kind === 'page' ? data : undefined;
  const rows = list?.list.results ?? [];

  // Selection is what is on screen: a new page or new filters start with none selected.
  useEffect(() => {
    setSelected(new Set(rows.filter((u) => keep.current.has(u.id)).map((u) => u.id)));
    keep.current = new Set();
  }, [data]);

  const setFilters = (changes: FilterChanges) => {
    setSummary(null);
    update({ ...changes, page: undefined, cursor: undefined });
  };
  const select = (ids: string[], on: boolean) =>
    setSelected((current) => {
      const next = new Set(current);
      for (const id of ids) {
        if (on) next.add(id);
        else next.delete(id);
      }
      return next;
    });

  const deleteSelected = async () => {
    const chosen = rows.filter((u) => selected.has(u.id));
    setSummary(null);
    setProgress({ settled: 0, total: chosen.length });
    let outcomes: DeleteOutcome[];
    try {
      outcomes = await deleteEach(
        chosen.map((u) => u.id),
        removeUpload,
        { onProgress: (settled, total) => setProgress({ settled, total }) },
      );
    } finally {
      setProgress(null);
    }
    const names = new Map(chosen.map((u) => [u.id, u.title || u.original_name || u.id.slice(0, 8)]));
    setSummary(summarise(outcomes, names));
    keep.current = new Set(outcomes.filter((o) => o.result === 'failed').map((o) => o.id));
    // A numbered page emptied by the delete no longer exists (the API would answer 404): go back one.
    const emptied = outcomes.every((o) => o.result !== 'failed') && chosen.length === rows.length;
    if (emptied && !paging.cursorMode && paging.page > 1)
      update({ page: paging.page === 2 ? undefined : paging.page - 1 });
    else uploads.reload();
  };

  const errors = (name: string) => invalid[name];
  const filtered = Object.keys(query).some((key) => key !== 'ordering');
  const count = selected.size;
  const today = todayUtc();

  return (
    <section>
      <header class="list-head screen-head">
        <h1>Uploads</h1>
        <PagingOptions paging={paging} sizes={PAGE_SIZES} defaultSize={DEFAULT_PAGE_SIZE} update={update} />
      </header>
      <UploadFilters
        params={params}
        errors={invalid}
        onChange={setFilters}
        extraKeys={SCREEN_KEYS}
        extra={
          <>
            <OwnerFilter
              userId={params.user_id}
              errors={errors('user_id')}
              onChange={(userId) => setFilters({ user_id: userId })}
            />
            <Field name="content_type" label="File type" errors={errors('content_type')}>
              <select
                {...controlAttrs('content_type', errors('content_type'))}
                title="The type recognised from the file's bytes at upload (known before any analysis)"
                value={params.content_type ?? ''}
                onChange={(e) => setFilters({ content_type: e.currentTarget.value })}
              >
                <option value="">Any</option>
                {CONTENT_TYPES.map((type) => (
                  <option key={type} value={type}>
                    {typeName(type)}
                  </option>
                ))}
              </select>
            </Field>
            <Field name="analysis_status" label="Analysis" errors={errors('analysis_status')}>
              <select
                {...controlAttrs('analysis_status', errors('analysis_status'))}
                title="The status of the upload's latest analysis"
                value={params.analysis_status ?? ''}
                onChange={(e) => setFilters({ analysis_status: e.currentTarget.value })}
              >
                <option value="">Any</option>
                {STATUSES.map(([value, label]) => (
                  <option key={value} value={value}>
                    {label}
                  </option>
                ))}
              </select>
            </Field>
            <DayRangeFields
              prefix="created"
              labels={['Uploaded from', 'Uploaded to']}
              params={params}
              errors={errors}
              onChange={setFilters}
            />
            <button
              type="button"
              class="link today"
              title="Uploaded today (UTC, as the overview counts days)"
              onClick={() => setFilters({ created_after: today, created_before: beforeFromDay(today) })}
            >
              Today
            </button>
          </>
        }
      />
      {uploads.error && (
        <p role="alert" class="error">
          {uploads.error}
        </p>
      )}
      <FilterErrors errors={invalid} fields={[...FILTER_KEYS, ...SCREEN_KEYS]} />
      {summary && <BulkSummary summary={summary} />}
      {list && (
        <div aria-busy={uploads.loading}>
          <div class="selection-bar" role="group" aria-label="Selected uploads">
            <span aria-live="polite">{count ? `${count} selected` : 'None selected'}</span>
            <ConfirmButton
              label="Delete selected"
              danger
              disabled={!count || progress !== null}
              confirmLabel={`Delete ${count} upload${count === 1 ? '' : 's'}`}
              question={
                progress ? (
                  <>
                    Deleting… {progress.settled} of {progress.total}
                    <progress max={progress.total} value={progress.settled} aria-label="Deleted so far" />
                  </>
                ) : (
                  <>
                    Delete {count} upload{count === 1 ? '' : 's'}? Their files, thumbnails and analyses go too; this
                    cannot be undone.
                  </>
                )
              }
              onConfirm={deleteSelected}
            />
            {count > 0 && progress === null && (
              <button type="button" class="link" onClick={() => setSelected(new Set())}>
                Clear selection
              </button>
            )}
          </div>
          <UploadsTable
            uploads={rows}
            placeholders={list.placeholders}
            selected={selected}
            onSelect={select}
            showTaken={params.ordering === 'taken_at' || params.ordering === '-taken_at'}
            busy={uploads.loading}
            disabled={progress !== null}
            empty={filtered ? 'No uploads match these filters.' : 'No uploads yet.'}
          />
          <ListPager paging={paging} list={list.list} atStart={!params.cursor} update={update} />
        </div>
      )}
    </section>
  );
}

function summarise(outcomes: DeleteOutcome[], names: Map<string, string>): Summary {
  const deleted = outcomes.filter((o) => o.result === 'deleted').length;
  const gone = outcomes.filter((o) => o.result === 'gone').length;
  const failed = outcomes.filter((o) => o.result === 'failed');
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const done =
    `Deleted ${plural(deleted, 'upload')}.` + (gone ? ` ${plural(gone, 'upload')} had already been deleted.` : '');
  if (!failed.length) return { kind: 'ok', text: done, failures: [] };
  return {
    kind: 'error',
    text: `${failed.length} of ${outcomes.length} could not be deleted and stay selected. ${deleted + gone ? done : ''}`,
    failures: failed.map((o) => ({
      id: o.id,
      name: names.get(o.id) ?? o.id,
      reason: o.message ?? (o.status ? `HTTP ${o.status}` : 'No answer.'),
    })),
  };
}

function BulkSummary({ summary }: { summary: Summary }) {
  return (
    <div role={summary.kind === 'error' ? 'alert' : 'status'} class={`bulk-summary ${summary.kind}`}>
      <p>{summary.text.trim()}</p>
      {summary.failures.length > 0 && (
        <ul>
          {summary.failures.map((f) => (
            <li key={f.id}>
              <a href={`/admin/uploads/${f.id}`}>{f.name}</a>: {f.reason}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
