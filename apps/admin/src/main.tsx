import { render } from 'preact';
import { LocationProvider, Route, Router } from 'preact-iso';
import { useEffect, useState } from 'preact/hooks';
import { restoreSession } from './api/client';
import { useSession } from './api/session';
import { Layout } from './components/layout';
import { SignIn } from './screens/sign-in/sign-in';
import { Overview } from './screens/overview/overview';
import { Users } from './screens/users/users';
import { UserDetail } from './screens/user/user-detail';
import { UploadDetail } from './screens/upload/upload-detail';
import { Uploads } from './screens/uploads/uploads';
import { Analyses } from './screens/analyses/analyses';
import { AuditLog } from './screens/audit-log/audit-log';
import { NotFound } from './screens/not-found';
import './styles.css';

/**
 * On load the session cookie is asked for a session first; then, signed out, every URL shows the
 * sign-in form and, once signed in, the screen it names (deep links, reloads, new tabs).
 */
function App() {
  const session = useSession();
  const [checked, setChecked] = useState(false);
  useEffect(() => void restoreSession().finally(() => setChecked(true)), []);
  if (!checked)
    return (
      <main class="sign-in" id="main" aria-busy="true">
        <p>Loading…</p>
      </main>
    );
  if (!session) return <SignIn />;
  return (
    <Layout user={session.user}>
      <Router>
        <Route path="/admin" component={Overview} />
        <Route path="/admin/users" component={Users} />
        <Route path="/admin/users/:id" component={UserDetail} />
        <Route path="/admin/uploads" component={Uploads} />
        <Route path="/admin/uploads/:id" component={UploadDetail} />
        <Route path="/admin/analyses" component={Analyses} />
        <Route path="/admin/audit-log" component={AuditLog} />
        <Route default component={NotFound} />
      </Router>
    </Layout>
  );
}

render(
  <LocationProvider scope="/admin">
    <App />
  </LocationProvider>,
  document.getElementById('app')!,
);
