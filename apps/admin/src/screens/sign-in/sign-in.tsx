import { useState } from 'preact/hooks';
import { api, endSession, errorText, startSession } from '../../api/client';
import { setSession, takeExpiredNotice } from '../../api/session';

/** Username or email + password. Non-admins are told they have no access (and signed out again). */
export function SignIn() {
  const [notice] = useState(() => (takeExpiredNotice() ? 'Your session has expired: please sign in again.' : ''));
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const login = String(form.get('login') ?? '').trim();
    const password = String(form.get('password') ?? '');
    setBusy(true);
    setError('');
    try {
      const body = login.includes('@') ? { email: login, password } : { username: login, password };
      const { data: tokens, error: failure, response } = await startSession(body);
      if (!tokens) {
        setError(response.status === 401 ? 'Wrong username, email or password.' : errorText(failure));
        return;
      }
      const me = await api.GET('/api/users/me', { headers: { authorization: `Bearer ${tokens.access}` } });
      if (!me.data) {
        setError(errorText(me.error));
        return;
      }
      if (me.data.role !== 'admin') {
        await endSession();
        setError(`${me.data.username} has no access to the admin console: it is for admins only.`);
        return;
      }
      setSession({ access: tokens.access, user: me.data });
    } catch {
      setError('Echo did not answer. Try again.');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="sign-in" id="main">
      <form onSubmit={submit} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">Echo admin</h1>
        {notice && (
          <p class="notice" role="status">
            {notice}
          </p>
        )}
        <label>
          Username or email
          <input name="login" autoComplete="username" required maxLength={254} autoFocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required maxLength={128} />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
