import type { Schemas } from '../../api/client';
import { formatDate } from '../../components/format';
import './audit-log.css';

export type AuditEntry = Schemas['AuditEntryResponse'];

/** Every action the API records (libs/audit-log callers), for the action filter and its labels. */
export const ACTIONS: Array<[string, string]> = [
  ['user.update', 'User changed (role, active)'],
  ['user.logout_all', 'User signed out everywhere'],
  ['user.delete', 'User deletion scheduled'],
  ['user.restore', 'User deletion cancelled'],
  ['upload.delete', 'Upload deleted'],
  ['analysis.retry', 'Analysis retried'],
  ['admin.create', 'Admin created (CLI)'],
  ['admin.promote', 'Admin promoted (CLI)'],
  ['admin.sign_in_failed', 'Admin sign-in failed'],
];

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** One side of a change: '—' for none, instants as dates (with the exact value in `datetime`). */
function Value(props: { value: unknown }) {
  const v = props.value;
  if (v === null || v === undefined) return <span class="none">—</span>;
  if (typeof v === 'string' && ISO_INSTANT.test(v)) return <time dateTime={v}>{formatDate(v)}</time>;
  return <>{typeof v === 'string' ? v : JSON.stringify(v)}</>;
}

/** `field: before → after`, one line per changed field. */
export function Changes(props: { changes: AuditEntry['changes'] }) {
  const fields = Object.entries(props.changes ?? {});
  if (!fields.length) return <span class="none">—</span>;
  return (
    <ul class="changes">
      {fields.map(([field, [before, after]]) => (
        <li key={field}>
          <span class="field">{field}</span>: <Value value={before} /> → <Value value={after} />
        </li>
      ))}
    </ul>
  );
}

/**
 * Targets the loaded entries themselves say are gone (an upload.delete), whose screens would be a
 * 404: they are named, not linked. The label outlives the target, which is why it is there.
 */
export function goneTargets(entries: AuditEntry[]): Set<string> {
  return new Set(entries.filter((e) => e.action === 'upload.delete').map((e) => `upload:${e.target_id}`));
}

/** The console screen of an entry's target: a user's, an upload's, or an analysis's upload. */
export function targetHref(entry: AuditEntry, gone: ReadonlySet<string>): string | undefined {
  if (gone.has(`${entry.target_type}:${entry.target_id}`)) return undefined;
  if (entry.target_type === 'user') return `/admin/users/${entry.target_id}`;
  if (entry.target_type === 'upload') return `/admin/uploads/${entry.target_id}`;
  // An analysis has no screen of its own; its label names its upload (`upload <id>`).
  const upload = entry.target_type === 'analysis' ? /^upload ([0-9a-f-]{36})$/i.exec(entry.target_label)?.[1] : null;
  return upload && !gone.has(`upload:${upload}`) ? `/admin/uploads/${upload}` : undefined;
}

function Actor(props: { entry: AuditEntry }) {
  const e = props.entry;
  if (e.actor_id !== null) return <a href={`/admin/users/${e.actor_id}`}>{e.actor_username || `#${e.actor_id}`}</a>;
  // The CLI ('cli'), in-process work ('system'), or nobody (a refused sign-in).
  return e.actor_username ? <span class="system">{e.actor_username}</span> : <span class="none">—</span>;
}

function Target(props: { entry: AuditEntry; gone: ReadonlySet<string> }) {
  const e = props.entry;
  const href = targetHref(e, props.gone);
  const label = e.target_label || `${e.target_type} ${e.target_id}`;
  return (
    <>
      {href ? <a href={href}>{label}</a> : <span>{label}</span>}
      <small>
        {e.target_type} {e.target_type === 'user' ? `#${e.target_id}` : e.target_id.slice(0, 8)}
        {props.gone.has(`${e.target_type}:${e.target_id}`) ? ' · deleted' : ''}
      </small>
    </>
  );
}

/** Audit entries as table rows, in the order given (newest first). */
export function AuditTable(props: { entries: AuditEntry[]; caption: string; busy?: boolean; empty: string }) {
  const gone = goneTargets(props.entries);
  return (
    <div class="table-wrap">
      <table class="audit-table" aria-busy={props.busy}>
        <caption class="visually-hidden">{props.caption}</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Actor</th>
            <th scope="col">Action</th>
            <th scope="col">Target</th>
            <th scope="col">Changes</th>
            <th scope="col">Request id</th>
            <th scope="col">IP</th>
          </tr>
        </thead>
        <tbody>
          {props.entries.map((e) => (
            <tr key={e.id} data-entry={e.id}>
              <td class="when">
                <time dateTime={e.created_at} title={e.created_at}>
                  {formatDate(e.created_at)}
                </time>
              </td>
              <td>
                <Actor entry={e} />
              </td>
              <td>
                <code>{e.action}</code>
              </td>
              <td class="target">
                <Target entry={e} gone={gone} />
              </td>
              <td>
                <Changes changes={e.changes} />
              </td>
              <td class="mono small">{e.request_id ?? '—'}</td>
              <td class="mono small ip">{e.ip ?? '—'}</td>
            </tr>
          ))}
          {!props.entries.length && (
            <tr>
              <td colSpan={7}>{props.empty}</td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
