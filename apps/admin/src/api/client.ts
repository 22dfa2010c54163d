import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';
import { getSession, secondsLeft, setSession } from './session';

export type Schemas = components['schemas'];

/** The typed client: paths and bodies come from Echo's OpenAPI document (npm run api:types). */
export const api = createClient<paths>({ baseUrl: location.origin });

const PUBLIC = new Set(['/api/auth/login', '/api/auth/refresh', '/api/auth/logout']);
let refreshing: Promise<boolean> | null = null;

/** One refresh at a time (refresh tokens are single use: two concurrent uses revoke the family). */
export function refreshTokens(): Promise<boolean> {
  refreshing ??= (async () => {
    const session = getSession();
    if (!session) return false;
    const { data } = await api.POST('/api/auth/refresh', { body: { refresh: session.refresh } });
    if (!data) {
      setSession(null, true);
      return false;
    }
    setSession({ ...session, access: data.access, refresh: data.refresh });
    return true;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
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
