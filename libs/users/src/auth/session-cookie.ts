import type {} from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** The refresh token of the cookie flow (POST /api/auth/session and the routes under it). */
export const SESSION_COOKIE = 'echo_refresh';
/** Sent only to the routes that read it: no other request (nor any page) carries the token. */
export const SESSION_COOKIE_PATH = '/api/auth/session';

/** The session cookie's value, if the request has one (@fastify/cookie parses on demand: `hook: false`). */
export function readSessionCookie(request: Pick<FastifyRequest, 'headers' | 'server'>): string | undefined {
  const header = request.headers.cookie;
  if (!header || !header.includes(SESSION_COOKIE)) return undefined;
  return request.server.parseCookie(header)[SESSION_COOKIE] || undefined;
}

/**
 * HttpOnly (no script reads it: an XSS cannot take the session away), SameSite=Strict (never
 * sent with a request another site starts), Secure when the request came over https (the
 * scheme Fastify reports honours X-Forwarded-Proto only from a proxy TRUST_PROXY names), and the
 * refresh token's own lifetime.
 */
export function setSessionCookie(request: FastifyRequest, reply: FastifyReply, token: string, expiresAt: Date): void {
  reply.setCookie(SESSION_COOKIE, token, {
    ...attributes(request),
    maxAge: Math.max(0, Math.floor((expiresAt.getTime() - Date.now()) / 1000)),
    expires: expiresAt,
  });
}

/** Max-Age=0 with the same name, Path and flags: the browser drops it. */
export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, attributes(request));
}

function attributes(request: FastifyRequest) {
  return {
    path: SESSION_COOKIE_PATH,
    httpOnly: true,
    sameSite: 'strict' as const,
    secure: request.protocol === 'https',
  };
}
