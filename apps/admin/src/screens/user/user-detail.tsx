import { useState } from 'preact/hooks';
import { api, errorText, rawCall, unwrap } from '../../api/client';
import { getSession } from '../../api/session';
import { ConfirmButton } from '../../components/confirm-button';
import { formatDate } from '../../components/format';
import { useAsync } from '../../components/use-async';
import { UserUploads } from './user-uploads';
import { UserDeletion } from './user-deletion';
import { UserHistory } from '../audit-log/target-history';

/** One user: profile, admin actions (each confirmed), and their uploads (searchable, paged thumbnails). */
export function UserDetail(props: { params?: { id: string }; id?: string }) {
  const id = Number(props.params?.id ?? props.id);
  const [message, setMessage] = useState<{ kind: 'error' | 'ok'; text: string } | null>(null);
  const user = useAsync(async () => unwrap(await api.GET('/api/admin/users/{id}', { params: { path: { id } } })), [id]);
  const patch = async (body: { is_active?: boolean; role?: 'user' | 'admin' }, done: string) => {
    const result = await api.PATCH('/api/admin/users/{id}', { params: { path: { id } }, body });
    if (result.error || !result.response.ok) {
      // e.g. the last-admin guard's 400 {"detail": "Cannot demote or deactivate the last active admin."}
      setMessage({ kind: 'error', text: errorText(result.error) });
      return;
    }
    setMessage({ kind: 'ok', text: done });
    user.reload();
  };

  const logoutAll = async () => {
    const response = await rawCall('POST', `/api/admin/users/${id}/logout-all`);
    if (response.status === 204) {
      setMessage({ kind: 'ok', text: 'Signed out everywhere: every session of this user has to sign in again.' });
      user.reload(); // and so the History, which shows the entry this wrote
    } else
      setMessage({
        kind: 'error',
        text:
          response.status === 404
            ? 'This Echo has no "sign out everywhere" yet.'
            : `Sign-out failed (HTTP ${response.status}).`,
      });
  };

  if (user.error)
    return (
      <p role="alert" class="error">
        {user.error}
      </p>
    );
  const u = user.data;
  if (!u) return <p aria-busy="true">Loading…</p>;
  const self = getSession()?.user.id === u.id;
  return (
    <section>
      <p class="crumbs">
        <a href="/admin/users">Users</a> / {u.username}
      </p>
      <h1>{u.display_name || u.username}</h1>
      <dl class="profile">
        <dt>Username</dt>
        <dd>{u.username}</dd>
        <dt>Email</dt>
        <dd>{u.email}</dd>
        <dt>Role</dt>
        <dd aria-label="Role">{u.role}</dd>
        <dt>Status</dt>
        <dd aria-label="Status">{u.is_active ? 'active' : 'inactive'}</dd>
        <dt>Joined</dt>
        <dd>{formatDate(u.date_joined)}</dd>
        <dt>Last login</dt>
        <dd>{formatDate(u.last_login)}</dd>
      </dl>
      <div class="actions" role="group" aria-label="Actions">
        {u.is_active ? (
          <ConfirmButton
            label="Deactivate"
            danger
            question={<>Deactivate {u.username}? Their tokens stop working at once and they cannot sign in.</>}
            onConfirm={() => patch({ is_active: false }, `${u.username} is deactivated.`)}
          />
        ) : u.delete_after ? null : (
          // A scheduled deletion keeps the account inactive: "Cancel deletion" below is its way back.
          <ConfirmButton
            label="Reactivate"
            question={<>Reactivate {u.username}?</>}
            onConfirm={() => patch({ is_active: true }, `${u.username} is active again.`)}
          />
        )}
        {u.role === 'admin' ? (
          <ConfirmButton
            label="Demote to user"
            question={
              <>
                Take admin rights from {u.username}
                {self ? ' (you)' : ''}?
              </>
            }
            onConfirm={() => patch({ role: 'user' }, `${u.username} is now a user.`)}
          />
        ) : (
          <ConfirmButton
            label="Promote to admin"
            question={<>Make {u.username} an admin?</>}
            onConfirm={() => patch({ role: 'admin' }, `${u.username} is now an admin.`)}
          />
        )}
        <ConfirmButton
          label="Sign out everywhere"
          question={<>End every session of {u.username}? Their refresh and access tokens are revoked.</>}
          onConfirm={logoutAll}
        />
      </div>
      {message && (
        <p role={message.kind === 'error' ? 'alert' : 'status'} class={message.kind}>
          {message.text}
        </p>
      )}
      <UserDeletion user={u} onChanged={user.reload} />
      <UserUploads id={id} />
      <UserHistory user={u} reloadKey={u} />
    </section>
  );
}
