import { render } from 'preact';
import { LocationProvider, Route, Router } from 'preact-iso';
import { useSession } from './api/session';
import { Layout } from './components/layout';
import { SignIn } from './screens/sign-in/sign-in';
import { Overview } from './screens/overview/overview';
import { Users } from './screens/users/users';
import { UserDetail } from './screens/user/user-detail';
import { UploadDetail } from './screens/upload/upload-detail';
import { Uploads } from './screens/uploads/uploads';
import { Analyses } from './screens/analyses/analyses';
import { NotFound } from './screens/not-found';
import './styles.css';

/** Signed out, every URL shows the sign-in form and, once signed in, the screen it names (deep links). */
function App() {
  const session = useSession();
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
