import { api, unwrap } from '../../api/client';
import { BarChart } from '../../components/bar-chart';
import { formatBytes, formatDate, formatNumber, formatPercent } from '../../components/format';
import { useAsync } from '../../components/use-async';

function Stat(props: { group: string; label: string; value: string; title?: string }) {
  return (
    <div class="stat">
      <dt>{props.label}</dt>
      <dd aria-label={`${props.group}: ${props.label}`} title={props.title}>
        {props.value}
      </dd>
    </div>
  );
}

/** Users, uploads, analyses and the queue at a glance, from GET /api/admin/stats (cached ≤ 15 s). */
export function Overview() {
  const stats = useAsync(async () => unwrap(await api.GET('/api/admin/stats')), []);
  // Counted by the user list's own filter (one COUNT on the delete_after index), not by the stats.
  const scheduled = useAsync(
    async () =>
      unwrap(await api.GET('/api/admin/users', { params: { query: { deletion_scheduled: true, page_size: 1 } } }))
        .count,
    [],
  );
  if (stats.error)
    return (
      <p role="alert" class="error">
        {stats.error}
      </p>
    );
  const s = stats.data;
  if (!s) return <p aria-busy="true">Loading…</p>;
  const days = s.daily.map((d) => d.date);
  return (
    <section>
      <header class="screen-head">
        <h1>Overview</h1>
        <span class="muted">
          as of {formatDate(s.generated_at)}{' '}
          <button type="button" onClick={() => (stats.reload(), scheduled.reload())}>
            Refresh
          </button>
        </span>
      </header>
      <div class="cards">
        <section class="card" aria-label="Users">
          <h2>Users</h2>
          <dl>
            <Stat group="Users" label="Total" value={formatNumber(s.users.total)} />
            <Stat group="Users" label="Active" value={formatNumber(s.users.active)} />
            <Stat group="Users" label="New in 7 days" value={formatNumber(s.users.new_7d)} />
            <Stat
              group="Users"
              label="Scheduled deletions"
              value={scheduled.data === undefined ? '…' : formatNumber(scheduled.data ?? 0)}
            />
          </dl>
          <p>
            <a href="/admin/users?deletion_scheduled=true&ordering=delete_after">Scheduled deletions</a>
          </p>
        </section>
        <section class="card" aria-label="Uploads">
          <h2>Uploads</h2>
          <dl>
            <Stat group="Uploads" label="Today" value={formatNumber(s.uploads.today)} />
            <Stat group="Uploads" label="Last 7 days" value={formatNumber(s.uploads.last_7d)} />
            <Stat
              group="Uploads"
              label="Stored"
              value={formatBytes(s.uploads.bytes_stored)}
              title={`${formatNumber(s.uploads.bytes_stored)} bytes`}
            />
          </dl>
        </section>
        <section class="card" aria-label="Analyses">
          <h2>Analyses</h2>
          <dl>
            {Object.entries(s.analyses.by_status).map(([status, n]) => (
              <Stat key={status} group="Analyses" label={status} value={formatNumber(n)} />
            ))}
            <Stat group="Analyses" label="Failure rate (7 days)" value={formatPercent(s.analyses.failure_rate_7d)} />
          </dl>
        </section>
        <section class="card" aria-label="Queue">
          <h2>Queue</h2>
          <dl>
            <Stat group="Queue" label="Depth" value={formatNumber(s.queue.depth)} />
          </dl>
          <p>
            <a href="/admin/analyses?status=failed">Failed analyses</a>
          </p>
        </section>
      </div>
      <BarChart
        label="Uploads per day"
        days={days}
        series={[{ name: 'uploads', className: 'bar-uploads', values: s.daily.map((d) => d.uploads) }]}
      />
      <BarChart
        label="Analyses finished per day"
        days={days}
        series={[
          { name: 'completed', className: 'bar-completed', values: s.daily.map((d) => d.analyses_completed) },
          { name: 'failed', className: 'bar-failed', values: s.daily.map((d) => d.analyses_failed) },
        ]}
      />
    </section>
  );
}
