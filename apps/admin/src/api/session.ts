import { useEffect, useState } from 'preact/hooks';
import type { components } from './schema';

export type User = components['schemas']['UserResponse'];

/**
 * The signed-in admin. The access token is kept in memory only (never localStorage or
 * sessionStorage); the refresh token is in an HttpOnly cookie the page cannot read, which the API
 * sends only to /api/auth/session/*. A reload or a new tab gets a fresh access token from it
 * (restoreSession in client.ts), so a script injected into the page finds no token that outlives it.
 */
export interface Session {
  access: string;
  user: User;
}

let current: Session | null = null;
let expiredNotice = false;
const listeners = new Set<() => void>();

export function getSession(): Session | null {
  return current;
}

export function setSession(next: Session | null, expired = false): void {
  current = next;
  expiredNotice = expired;
  for (const listener of listeners) listener();
}

/** True once after the session ended by itself (refresh refused), for the sign-in screen's notice. */
export function takeExpiredNotice(): boolean {
  const notice = expiredNotice;
  expiredNotice = false;
  return notice;
}

export function useSession(): Session | null {
  const [, rerender] = useState(0);
  useEffect(() => {
    const listener = () => rerender((n) => n + 1);
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, []);
  return current;
}

/** Seconds until the access token's `exp` (its payload is read, not verified: the API verifies). */
export function secondsLeft(access: string): number {
  try {
    const payload = JSON.parse(atob(access.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: number };
    return typeof payload.exp === 'number' ? payload.exp - Date.now() / 1000 : 0;
  } catch {
    return 0;
  }
}
