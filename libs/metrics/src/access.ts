import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { bearerToken } from '@echo/http';

export type MetricsAccess = 'allowed' | 'unauthorized' | 'hidden';

/**
 * Who may read a /metrics endpoint (the API's, the worker's, the cluster primary's):
 * - METRICS_TOKEN set: only requests with `Authorization: Bearer <METRICS_TOKEN>`, from anywhere;
 *   anything else is 401.
 * - METRICS_TOKEN unset: only direct loopback clients (127.0.0.0/8, ::1) whose request carries no
 *   proxy header (X-Forwarded-For, Forwarded, X-Real-IP: a reverse proxy on the same host would
 *   otherwise make every outside client look local); anyone else gets 404, as if there were no route.
 * The client address is the socket's, never one taken from headers.
 */
export function metricsAccess(
  token: string | undefined,
  headers: IncomingHttpHeaders,
  remoteAddress: string | undefined,
): MetricsAccess {
  if (token) {
    const given = bearerToken(headers.authorization);
    return given && sameSecret(given, token) ? 'allowed' : 'unauthorized';
  }
  const proxied =
    headers['x-forwarded-for'] !== undefined || headers.forwarded !== undefined || headers['x-real-ip'] !== undefined;
  return !proxied && isLoopback(remoteAddress) ? 'allowed' : 'hidden';
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}
