import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';
import { getSession, secondsLeft, setSession } from './session';

export type Schemas = components['schemas'];

/** The typed client: paths and bodies come from Echo's OpenAPI document (npm run api:types). */
export const api = createClient<paths>({ baseUrl: location.origin });

/** The header the cookie routes require (the API's CSRF defence: a form cannot send it). */
const CSRF = { 'X-Echo-CSRF': '1' } as const;
const PUBLIC = new Set(['/api/auth/session', '/api/auth/session/refresh', '/api/auth/session/logout']);
let refreshing: Promise<boolean> | null = null;

/**
 * A new access token from the session cookie (the cookie is rotated on the way). One at a time
 * in this tab; other tabs share the cookie, and the API answers two tabs presenting the same one
 * at once alike (its grace for a just-rotated token), so tabs need not coordinate.
 */
export function refreshTokens(): Promise<boolean> {
  refreshing ??= (async () => {
    const session = getSession();
    if (!session) return false;
    const { data } = await api.POST('/api/auth/session/refresh', { params: { header: CSRF }, body: {} });
    if (!data) {
      setSession(null, true);
      return false;
    }
    setSession({ ...session, access: data.access });
    return true;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/**
 * On load: the session the cookie still holds, if any (deep links and reloads continue where the
 * URL points). No cookie (204) → sign-in; a refused one (401: signed out elsewhere, deactivated,
 * expired) → sign-in with the "session expired" notice; a non-admin's session → signed out, sign-in.
 */
export async function restoreSession(): Promise<void> {
  try {
    const { data, response } = await api.POST('/api/auth/session/refresh', { params: { header: CSRF }, body: {} });
    if (!data?.access) {
      setSession(null, response.status === 401);
      return;
    }
    const me = await api.GET('/api/users/me', { headers: { authorization: `Bearer ${data.access}` } });
    if (me.data?.role === 'admin') {
      setSession({ access: data.access, user: me.data });
      return;
    }
    // A non-admin's session is ended, not just hidden, or its cookie could still refresh. Awaited
    // first, so this logout's cleared cookie cannot land after a sign-in that follows.
    if (me.data) await endSession();
    setSession(null);
  } catch {
    setSession(null); // Echo did not answer: the sign-in form says so when it is used
  }
}

/** Signs in with the cookie option: the access token comes back, the refresh token stays in the cookie. */
export function startSession(body: { username: string; password: string } | { email: string; password: string }) {
  return api.POST('/api/auth/session', { params: { header: CSRF }, body });
}

/** Revokes the cookie's token family and clears the cookie; the access token simply expires. */
export async function endSession(): Promise<void> {
  await api.POST('/api/auth/session/logout', { params: { header: CSRF }, body: {} }).catch(() => undefined);
}

const originals = new WeakMap<Request, Request>();

/**
 * Bearer token on every call; a token about to expire is refreshed first, and a 401 is retried
 * once after a refresh. When the refresh is refused the session ends (back to sign-in).
 */
const auth: Middleware = {
  async onRequest({ request, schemaPath }) {
    if (PUBLIC.has(schemaPath)) return undefined;
    const before = getSession();
    if (before && secondsLeft(before.access) < 30) await refreshTokens();
    const session = getSession();
    // The session just ended (refresh refused): answer locally instead of sending a doomed call.
    if (before && !session)
      return new Response(JSON.stringify({ detail: 'Your session has expired.' }), {
        status: 401,
        headers: { 'content-type': 'application/json' },
      });
    // No session: the sign-in screen's own call, which carries its token itself.
    if (session) request.headers.set('authorization', `Bearer ${session.access}`);
    originals.set(request, request.clone());
    return request;
  },
  async onResponse({ request, response, schemaPath }) {
    if (response.status !== 401 || PUBLIC.has(schemaPath)) return undefined;
    const copy = originals.get(request);
    if (!copy || !(await refreshTokens())) {
      setSession(null, true);
      return undefined;
    }
    copy.headers.set('authorization', `Bearer ${getSession()!.access}`);
    return fetch(copy);
  },
};
api.use(auth);

/** A DRF error body as one readable sentence. */
export function errorText(error: unknown, fallback = 'Something went wrong.'): string {
  if (!error || typeof error !== 'object') return fallback;
  const body = error as Record<string, unknown>;
  if (typeof body.detail === 'string') return body.detail;
  const fields = Object.entries(body).map(
    ([field, messages]) => `${field}: ${Array.isArray(messages) ? messages.join(' ') : String(messages)}`,
  );
  return fields.length ? fields.join('; ') : fallback;
}

/** The data of an openapi-fetch result, or an Error carrying the API's message. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || !result.response.ok)
    throw new Error(errorText(result.error, `HTTP ${result.response.status}`));
  return result.data as T;
}

/**
 * A call outside the generated schema (a route the API may not have yet), with the same token
 * handling. Used for POST /api/admin/users/{id}/logout-all.
 */
export async function rawCall(method: string, path: string): Promise<Response> {
  const send = () => fetch(path, { method, headers: { authorization: `Bearer ${getSession()?.access ?? ''}` } });
  const first = getSession();
  if (first && secondsLeft(first.access) < 30) await refreshTokens();
  const response = await send();
  if (response.status === 401 && (await refreshTokens())) return send();
  return response;
}
