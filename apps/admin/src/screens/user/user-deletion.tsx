import { useEffect, useRef, useState } from 'preact/hooks';
import { api, errorText, type Schemas } from '../../api/client';
import { getSession } from '../../api/session';
import { ConfirmButton } from '../../components/confirm-button';
import { formatDate } from '../../components/format';
import './user-deletion.css';

type AdminUser = Schemas['AdminUserResponse'];

/**
 * A user's deletion on their screen: a scheduled one (when, who asked, cancel), or "Delete user…",
 * which asks for the username to be typed (a deletion cannot be undone once the purge runs) and
 * offers to skip the grace period.
 */
export function UserDeletion(props: { user: AdminUser; onChanged: () => void }) {
  const u = props.user;
  const [message, setMessage] = useState<{ kind: 'error' | 'ok'; text: string } | null>(null);

  const cancel = async () => {
    const result = await api.POST('/api/admin/users/{id}/restore', { params: { path: { id: u.id } } });
    if (result.error || !result.response.ok) throw new Error(errorText(result.error));
    setMessage({ kind: 'ok', text: `The deletion of ${u.username} is cancelled; the account is active again.` });
    props.onChanged();
  };

  if (u.delete_after) {
    const due = new Date(u.delete_after).getTime() <= Date.now();
    const by = u.deletion_requested_by === u.id ? 'the user' : `an admin (id ${u.deletion_requested_by})`;
    return (
      <section class="deletion" aria-label="Deletion">
        <p role="status" class="notice">
          {due ? (
            <>Being deleted: the purge of {u.username}'s data has begun.</>
          ) : (
            <>
              Scheduled for deletion on <time dateTime={u.delete_after}>{formatDate(u.delete_after)}</time>, asked by{' '}
              {by} on {formatDate(u.deletion_requested_at)}. Until then the account is deactivated.
            </>
          )}
        </p>
        {!due && (
          <ConfirmButton
            label="Cancel deletion"
            question={
              <>Cancel the deletion of {u.username}? The account becomes active again; they sign in as before.</>
            }
            onConfirm={cancel}
          />
        )}
        <Message message={message} />
      </section>
    );
  }
  return (
    <section class="deletion" aria-label="Deletion">
      <DeleteUserButton
        user={u}
        onDeleted={(text) => {
          setMessage({ kind: 'ok', text });
          props.onChanged();
        }}
      />
      <Message message={message} />
    </section>
  );
}

function Message(props: { message: { kind: 'error' | 'ok'; text: string } | null }) {
  const m = props.message;
  return m ? (
    <p role={m.kind === 'error' ? 'alert' : 'status'} class={m.kind}>
      {m.text}
    </p>
  ) : null;
}

/** "Delete user…": a modal that enables its button only once the username is typed exactly. */
function DeleteUserButton(props: { user: AdminUser; onDeleted: (text: string) => void }) {
  const u = props.user;
  const dialog = useRef<HTMLDialogElement>(null);
  const [open, setOpen] = useState(false);
  const [typed, setTyped] = useState('');
  const [now, setNow] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  useEffect(() => {
    if (open) dialog.current?.showModal();
    else dialog.current?.close();
  }, [open]);
  const self = getSession()?.user.id === u.id;

  const confirm = async (event: Event) => {
    event.preventDefault();
    if (typed !== u.username) return;
    setBusy(true);
    setError('');
    const result = await api.DELETE('/api/admin/users/{id}', {
      params: { path: { id: u.id }, query: now ? { now: true } : {} },
    });
    setBusy(false);
    if (result.error || !result.response.ok) {
      setError(errorText(result.error)); // e.g. "Cannot delete the last active admin."
      return;
    }
    setOpen(false);
    props.onDeleted(
      result.data?.status === 'purging'
        ? `${u.username} is being deleted now.`
        : `${u.username} is deactivated and will be deleted on ${formatDate(result.data?.delete_after ?? null)}.`,
    );
  };

  return (
    <>
      <button type="button" class="danger" onClick={() => (setTyped(''), setNow(false), setError(''), setOpen(true))}>
        Delete user…
      </button>
      <dialog
        ref={dialog}
        aria-label="Delete user"
        onCancel={(e) => busy && e.preventDefault()}
        onClose={() => setOpen(false)}
      >
        <form onSubmit={confirm}>
          <p>
            Delete {u.username}
            {self ? ' (you)' : ''}? The account is deactivated at once, and their uploads, analyses, exports and
            sessions are deleted for good after the grace period (they cannot undo an admin's deletion; you can, until
            then).
          </p>
          <label class="check">
            <input type="checkbox" checked={now} onChange={(e) => setNow(e.currentTarget.checked)} /> Delete now,
            without a grace period
          </label>
          <label>
            <span>
              Type <strong>{u.username}</strong> to confirm
            </span>
            <input
              name="confirm-username"
              autoComplete="off"
              spellcheck={false}
              value={typed}
              onInput={(e) => setTyped(e.currentTarget.value)}
            />
          </label>
          {error && (
            <p role="alert" class="error">
              {error}
            </p>
          )}
          <div class="actions">
            <button type="button" onClick={() => setOpen(false)} disabled={busy}>
              Cancel
            </button>
            <button type="submit" class="danger" disabled={busy || typed !== u.username}>
              {now ? 'Delete now' : 'Delete user'}
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}
