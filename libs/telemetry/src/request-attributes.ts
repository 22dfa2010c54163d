import type { Attributes, Span } from '@opentelemetry/api';

// What an operator filters requests by, from the route template and its `:id`.
const UPLOAD_ROUTE = /^\/api\/(?:admin\/|media\/)?uploads\/:id(?:\/|$)/;
const ANALYSIS_ROUTE = /^\/api\/(?:admin\/)?visual-analysis\/:id(?:\/|$)/;
// Prometheus scrapes and health probes: not user actions, not traced.
const IGNORED = new Set(['/metrics', '/health', '/health/ready']);
const ATTRIBUTES = Symbol('echo.request.attributes');

interface RouteRequest {
  routeOptions?: { url?: string };
  params?: unknown;
  user?: { id?: unknown };
  raw: object;
  opentelemetry?: () => { span?: Span | null };
}

export function ignoredPath(url: string | undefined): boolean {
  return IGNORED.has((url ?? '').split('?')[0].replace(/\/+$/, '') || '/');
}

/** An incoming request (IncomingMessage), not an outgoing one (ClientRequest): it has no setHeader. */
export function isIncoming(request: object): request is { url?: string } {
  return !('setHeader' in request);
}

/** enduser.id (the authenticated user), echo.upload.id or echo.analysis.id (the route's `:id`). */
export function requestAttributes(request: RouteRequest): Attributes {
  const attributes: Attributes = {};
  const userId = request.user?.id;
  if (typeof userId === 'number' || typeof userId === 'string') attributes['enduser.id'] = String(userId);
  const route = request.routeOptions?.url ?? '';
  const id = (request.params as { id?: unknown } | undefined)?.id;
  if (typeof id === 'string') {
    if (UPLOAD_ROUTE.test(route)) attributes['echo.upload.id'] = id;
    else if (ANALYSIS_ROUTE.test(route)) attributes['echo.analysis.id'] = id;
  }
  return attributes;
}

/**
 * Fastify onSend hook (the user is known once the guard ran): the attributes on @fastify/otel's
 * request span, still open here, and kept on the raw request for the HTTP server span, which
 * ends after the response is written (copyRequestAttributes).
 */
export function annotateRequest(
  request: RouteRequest,
  _reply: unknown,
  payload: unknown,
  done: (err: null, payload: unknown) => void,
): void {
  const attributes = requestAttributes(request);
  if (Object.keys(attributes).length) {
    (request.raw as Record<symbol, Attributes>)[ATTRIBUTES] = attributes;
    try {
      request.opentelemetry?.().span?.setAttributes(attributes);
    } catch {
      // an untraced instance
    }
  }
  done(null, payload);
}

/** HttpInstrumentation's applyCustomAttributesOnSpan: the server span gets what onSend found. */
export function copyRequestAttributes(span: Span, request: object): void {
  const attributes = (request as Record<symbol, Attributes | undefined>)[ATTRIBUTES];
  if (attributes) span.setAttributes(attributes);
}
