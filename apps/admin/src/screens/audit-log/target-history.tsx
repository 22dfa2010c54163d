import { api, unwrap } from '../../api/client';
import { useAsync } from '../../components/use-async';
import { History, type HistoryTarget } from './history';

const logLink = (query: Record<string, string>) => `/admin/audit-log?${new URLSearchParams(query).toString()}`;

/** The user screen's History: entries about this user; for an admin, a link to what they did. */
export function UserHistory(props: { user: { id: number; username: string; role: string }; reloadKey?: unknown }) {
  const { id, username, role } = props.user;
  const links = [{ href: logLink({ target_type: 'user', target_id: String(id) }), label: 'Open in the Audit log' }];
  if (role === 'admin') links.push({ href: logLink({ actor_id: String(id) }), label: `Actions by ${username}` });
  return <History targets={[{ type: 'user', id: String(id) }]} reloadKey={props.reloadKey} links={links} />;
}

/**
 * The upload screen's History: the upload's entries and its analyses' (a retry is recorded on the
 * analysis). The analyses are read once per `reloadKey` (a new analysis appears after a
 * re-analysis); an upload has a handful, 200 is far above any real count.
 */
export function UploadHistory(props: { id: string; reloadKey?: unknown }) {
  const analyses = useAsync(
    async () =>
      unwrap(
        await api.GET('/api/admin/visual-analysis', { params: { query: { upload_id: props.id, page_size: 200 } } }),
      ).results.map((a) => a.id),
    [props.id, props.reloadKey],
  );
  if (analyses.error)
    return (
      <p role="alert" class="error">
        {analyses.error}
      </p>
    );
  if (!analyses.data) return null;
  const targets: HistoryTarget[] = [
    { type: 'upload', id: props.id },
    ...analyses.data.map((id): HistoryTarget => ({ type: 'analysis', id })),
  ];
  return (
    <History
      targets={targets}
      reloadKey={props.reloadKey}
      links={[{ href: logLink({ target_type: 'upload', target_id: props.id }), label: 'Open in the Audit log' }]}
    />
  );
}
