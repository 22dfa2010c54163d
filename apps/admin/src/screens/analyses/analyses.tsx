import { useState } from 'preact/hooks';
import { api, errorText, rawCall, unwrap } from '../../api/client';
import { formatDate } from '../../components/format';
import { Pager } from '../../components/pager';
import { useAsync } from '../../components/use-async';
import { pageOf, useUrlState } from '../../components/url-state';

const PAGE = 50;
const VIEWS: Array<['failed' | 'stuck', string]> = [
  ['failed', 'Failed'],
  ['stuck', 'Stuck (queued or processing too long)'],
];

/** Failed and stuck analyses with their reasons; retry one or every failed one on the page. */
export function Analyses() {
  const { params, update } = useUrlState();
  const view = params.status === 'stuck' ? 'stuck' : 'failed';
  const page = pageOf(params.page);
  const [message, setMessage] = useState<{ kind: 'error' | 'ok'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const list = useAsync(
    async () =>
      unwrap(
        await api.GET('/api/admin/visual-analysis', {
          params: { query: { status: view, page: String(page), page_size: PAGE } },
        }),
      ),
    [view, page],
  );
  const queues = useAsync(async () => unwrap(await api.GET('/api/admin/queues')), []);

  const retry = async (ids: string[]) => {
    setBusy(true);
    let failed = 0;
    let lastError = '';
    for (const id of ids) {
      const result = await api.POST('/api/admin/visual-analysis/{id}/retry', { params: { path: { id } } });
      if (!result.response.ok) {
        failed++;
        lastError = errorText(result.error);
      }
    }
    setBusy(false);
    setMessage(
      failed
        ? { kind: 'error', text: `${failed} of ${ids.length} could not be retried: ${lastError}` }
        : { kind: 'ok', text: `${ids.length} analysis${ids.length === 1 ? '' : 'es'} queued again.` },
    );
    list.reload();
  };

  /**
   * bull-board takes the token once, in a POST (never in a URL), and keeps it in an HttpOnly
   * cookie for its own path; the tab is opened within the click so no popup blocker stops it.
   */
  const openDashboard = async () => {
    const tab = window.open('', '_blank');
    const response = await rawCall('POST', '/admin/queues/login');
    if (response.ok && tab) {
      tab.location.href = '/admin/queues';
      return;
    }
    tab?.close();
    setMessage({
      kind: 'error',
      text:
        response.status === 404
          ? 'No queue dashboard here: it needs Redis.'
          : `The queue dashboard refused access (HTTP ${response.status}).`,
    });
  };

  const rows = list.data?.results ?? [];
  const failedIds = rows.filter((a) => a.status === 'failed').map((a) => a.id);
  return (
    <section>
      <header class="screen-head">
        <h1>Analyses</h1>
        <button type="button" onClick={openDashboard}>
          Queue dashboard (bull-board) ↗
        </button>
      </header>
      {queues.data && (
        <p class="muted" aria-label="Queue counts">
          {Object.entries(queues.data).map(([queue, counts]) => (
            <span key={queue}>
              {queue}:{' '}
              {Object.entries(counts)
                .map(([state, n]) => `${state} ${n}`)
                .join(', ')}
              .{' '}
            </span>
          ))}
        </p>
      )}
      <div class="filters" role="group" aria-label="Show">
        {VIEWS.map(([value, label]) => (
          <button
            key={value}
            type="button"
            aria-pressed={view === value}
            onClick={() => update({ status: value === 'failed' ? undefined : value, page: undefined })}
          >
            {label}
          </button>
        ))}
        {view === 'failed' && (
          <button type="button" class="primary" disabled={busy || !failedIds.length} onClick={() => retry(failedIds)}>
            Retry all {failedIds.length} shown
          </button>
        )}
      </div>
      {message && (
        <p role={message.kind === 'error' ? 'alert' : 'status'} class={message.kind}>
          {message.text}
        </p>
      )}
      {list.error && (
        <p role="alert" class="error">
          {list.error}
        </p>
      )}
      {list.data && (
        <>
          <div class="table-wrap">
            <table aria-busy={list.loading}>
              <caption class="visually-hidden">{view === 'failed' ? 'Failed analyses' : 'Stuck analyses'}</caption>
              <thead>
                <tr>
                  <th scope="col">Created</th>
                  <th scope="col">Upload</th>
                  <th scope="col">Owner</th>
                  <th scope="col">Status</th>
                  <th scope="col">Attempts</th>
                  <th scope="col">Reason</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {rows.map((a) => (
                  <tr key={a.id}>
                    <td>{formatDate(a.created_at)}</td>
                    <td>
                      <a href={`/admin/uploads/${a.upload_id}`}>{a.upload_id.slice(0, 8)}</a>
                    </td>
                    <td>
                      <a href={`/admin/users/${a.user_id}`}>#{a.user_id}</a>
                    </td>
                    <td>
                      <span class={`badge ${a.status}`}>{a.status}</span>
                    </td>
                    <td>{a.attempts}</td>
                    <td class="reason">{a.error ?? '—'}</td>
                    <td>
                      {a.status === 'failed' && (
                        <button
                          type="button"
                          disabled={busy}
                          onClick={() => retry([a.id])}
                          aria-label={`Retry analysis of upload ${a.upload_id.slice(0, 8)}`}
                        >
                          Retry
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
                {!rows.length && (
                  <tr>
                    <td colSpan={7}>{view === 'failed' ? 'No failed analyses.' : 'Nothing is stuck.'}</td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
          <Pager
            count={list.data.count ?? 0}
            page={page}
            pageSize={PAGE}
            onPage={(p) => update({ page: p === 1 ? undefined : p })}
          />
        </>
      )}
    </section>
  );
}
