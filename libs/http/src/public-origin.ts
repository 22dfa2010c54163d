import { BadRequestException } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { parseHost } from './request-limits.js';

/**
 * The origin absolute links are built from: PUBLIC_URL when set, else the request's scheme and
 * host — which only come from X-Forwarded-* when the proxy is trusted (TRUST_PROXY), and whose
 * host has passed the ALLOWED_HOSTS check (see hostGuard). The origin is rebuilt from the parsed
 * host rather than pasted from the header, so a value hostGuard did not see can never become a link.
 */
export function publicOrigin(
  request: Pick<FastifyRequest, 'protocol' | 'host'>,
  publicUrl: string | undefined,
): string {
  if (publicUrl) return publicUrl;
  const host = parseHost(request.host ?? '');
  if (!host) throw new BadRequestException(`Invalid HTTP_HOST header: '${String(request.host).slice(0, 100)}'.`);
  const scheme = request.protocol === 'https' ? 'https' : 'http';
  return `${scheme}://${host.name}${host.port ? `:${host.port}` : ''}`;
}
