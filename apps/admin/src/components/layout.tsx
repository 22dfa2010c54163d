import type { ComponentChildren } from 'preact';
import { useLocation } from 'preact-iso';
import { endSession } from '../api/client';
import { setSession, type User } from '../api/session';

const LINKS = [
  { href: '/admin', label: 'Overview' },
  { href: '/admin/users', label: 'Users' },
  { href: '/admin/uploads', label: 'Uploads' },
  { href: '/admin/analyses', label: 'Analyses' },
  { href: '/admin/audit-log', label: 'Audit log' },
];

async function signOut() {
  // The refresh token dies server-side too and the cookie is cleared; the access token simply expires.
  await endSession();
  setSession(null);
}

export function Layout(props: { user: User; children: ComponentChildren }) {
  const { path } = useLocation();
  const current = (href: string) =>
    href === '/admin' ? path === '/admin' || path === '/admin/' : path.startsWith(href);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <strong class="brand">Echo admin</strong>
        <nav aria-label="Main">
          {LINKS.map((link) => (
            <a key={link.href} href={link.href} aria-current={current(link.href) ? 'page' : undefined}>
              {link.label}
            </a>
          ))}
        </nav>
        <span class="who">
          {props.user.username}
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        {props.children}
      </main>
    </>
  );
}
