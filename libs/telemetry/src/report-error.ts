import { trace, type Span } from '@opentelemetry/api';
import { markFailed } from './spans.js';
import { telemetryState } from './state.js';

/**
 * An unexpected error (an API 500, a failed job attempt): recorded on the active span and on the
 * request's own span (@fastify/otel's, when `request` is a traced Fastify request), and sent to
 * Sentry when it runs. Client errors (4xx, a corrupt upload) are not reported: they are answers.
 */
export function reportError(error: unknown, request?: unknown): void {
  const spans = new Set([trace.getActiveSpan(), requestSpan(request)]);
  for (const span of spans) if (span) markFailed(span, error);
  telemetryState.captureException?.(error);
}

function requestSpan(request: unknown): Span | undefined {
  const traced = request as { opentelemetry?: () => { span?: Span } } | undefined;
  try {
    return typeof traced?.opentelemetry === 'function' ? traced.opentelemetry().span : undefined;
  } catch {
    return undefined;
  }
}
