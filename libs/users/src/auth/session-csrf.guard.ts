import { ForbiddenException, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

/** The header every session-cookie request must carry (value `1`). */
export const CSRF_HEADER = 'X-Echo-CSRF';

/**
 * Why a request may not use the session cookie, or undefined when it may. The cookie is
 * SameSite=Strict already; this holds even where SameSite does not (a sibling subdomain is
 * "same site", an old browser ignores the attribute):
 * - a JSON body and a custom header: an HTML form can send neither, and a script on another
 *   origin needs a CORS preflight to send them, which Echo never grants with credentials;
 * - Fetch Metadata: a browser that says the request came from another origin is refused.
 * Other methods are 405 (the routes are POST only), so an <img> or a link cannot use it.
 */
export function csrfRefusal(headers: FastifyRequest['headers']): string | undefined {
  const type = String(headers['content-type'] ?? '')
    .split(';')[0]
    .trim()
    .toLowerCase();
  if (type !== 'application/json') return 'CSRF Failed: the body must be JSON (Content-Type: application/json).';
  if (headers[CSRF_HEADER.toLowerCase()] !== '1') return `CSRF Failed: the "${CSRF_HEADER}: 1" header is missing.`;
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return 'CSRF Failed: the request came from another origin.';
  return undefined;
}

/** 403 in DRF's words ("CSRF Failed: …") for a request that may not use the session cookie. */
@Injectable()
export class SessionCsrfGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const refusal = csrfRefusal(context.switchToHttp().getRequest<FastifyRequest>().headers);
    if (refusal) throw new ForbiddenException(refusal);
    return true;
  }
}
