import type { FastifyRequest } from 'fastify';

/**
 * The origin absolute links are built from: PUBLIC_URL when set, else the request's scheme and
 * host — which only come from X-Forwarded-* when the proxy is trusted (TRUST_PROXY), and whose
 * host has passed the ALLOWED_HOSTS check (see hostGuard).
 */
export function publicOrigin(
  request: Pick<FastifyRequest, 'protocol' | 'host'>,
  publicUrl: string | undefined,
): string {
  return publicUrl ?? `${request.protocol}://${request.host}`;
}
