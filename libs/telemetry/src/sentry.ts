import * as Sentry from '@sentry/node';
import { loggableUrl, SECRET_QUERY_PARAMS } from '../../http/src/loggable-url.js';
import type { ServiceName } from './start-telemetry.js';
import { telemetryState } from './state.js';

type SentryEvent = Parameters<NonNullable<Sentry.NodeOptions['beforeSend']>>[0];

/**
 * Sentry for errors (loaded only with SENTRY_DSN): what reportError() hands it (API 500s, failed
 * job attempts) and uncaught exceptions / unhandled rejections (which still end the process, as
 * without Sentry). OpenTelemetry owns tracing: with tracing on, each report carries the active
 * span's trace id, so it opens its trace. Sentry's own tracing stays off; to see the traces in
 * Sentry too, point OTEL_EXPORTER_OTLP_TRACES_ENDPOINT at the project's OTLP endpoint.
 * SENTRY_ENVIRONMENT and SENTRY_RELEASE are read by the SDK itself.
 */
export async function startSentry(service: ServiceName, env: Record<string, string | undefined>): Promise<void> {
  Sentry.init({
    dsn: env.SENTRY_DSN,
    // No bodies (a login's password), cookies or IP-derived user; the query minus its secrets
    // (SECRET_QUERY_PARAMS, as in the request log); scrub() below is the second net.
    dataCollection: {
      userInfo: false,
      cookies: false,
      httpBodies: [],
      httpHeaders: { request: { deny: ['authorization', 'cookie', 'proxy-authorization'] }, response: false },
      urlQueryParams: { deny: SECRET_QUERY_PARAMS },
    },
    integrations: (defaults) => [
      // Its Fastify integration would register @fastify/otel a second time (tracing registers it),
      // and reports nothing here: Nest's exception filter answers errors, and calls reportError().
      ...defaults.filter((i) => i.name !== 'Fastify' && i.name !== 'OnUnhandledRejection'),
      Sentry.openTelemetryIntegration(),
      // Node's own behaviour (the process ends), not Sentry's default (a warning, and it lives on).
      Sentry.onUnhandledRejectionIntegration({ mode: 'strict' }),
    ],
    initialScope: { tags: { service } },
    beforeSend: scrub,
  });
  telemetryState.captureException = (error) => Sentry.captureException(error);
  telemetryState.stoppers.push((timeoutMs) => Sentry.close(timeoutMs));
}

// Never the credentials the request log leaves out, nor a body (a login's password).
const SECRET_HEADERS = /^(authorization|cookie|set-cookie|x-api-key|proxy-authorization)$/i;

export function scrub(event: SentryEvent): SentryEvent {
  const request = event.request;
  if (!request) return event;
  if (request.url) request.url = loggableUrl(request.url);
  if (typeof request.query_string === 'string') request.query_string = loggableUrl(`?${request.query_string}`).slice(1);
  else delete request.query_string;
  for (const name of Object.keys(request.headers ?? {})) if (SECRET_HEADERS.test(name)) delete request.headers![name];
  delete request.cookies;
  delete request.data;
  return event;
}
