import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Span,
} from '@opentelemetry/api';

// Without an SDK (tracing off) this is OpenTelemetry's no-op tracer: the helpers below cost a
// function call and create nothing. @opentelemetry/api is the only OpenTelemetry module that
// always-loaded code imports (prom-client loads it in every process anyway).
const tracer = trace.getTracer('echo');

/**
 * Runs `fn` in a child span of the active one, for work no instrumentation sees (decoding in
 * libvips, the analysis stages). A thrown error is recorded on the span (exception event, error
 * status) unless `expected(error)` says it is the input's fault, not the service's.
 */
export function inSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
  expected: (error: unknown) => boolean = () => false,
): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      if (expected(error)) span.setAttribute('error.type', errorType(error));
      else markFailed(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * The active span as a W3C `traceparent` value, for a message that should continue its trace in
 * the process that receives it (a pub/sub announcement); '' when nothing is traced or sampled.
 */
export function traceToken(): string {
  if (!trace.getActiveSpan()?.isRecording()) return '';
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ?? '';
}

/**
 * Runs `fn` (synchronous: a delivery) in a consumer span continuing the trace `token` came from
 * (traceToken() in the sender); without a token, just runs it.
 */
export function inMessageSpan<T>(token: string | undefined, name: string, attributes: Attributes, fn: () => T): T {
  if (!token) return fn();
  const parent = propagation.extract(ROOT_CONTEXT, { traceparent: token });
  const span = tracer.startSpan(name, { kind: SpanKind.CONSUMER, attributes }, parent);
  try {
    return context.with(trace.setSpan(parent, span), fn);
  } finally {
    span.end();
  }
}

/** Adds what an operator filters by (ids, queue, attempt) to the active span, if any. */
export function annotateSpan(attributes: Attributes): void {
  trace.getActiveSpan()?.setAttributes(attributes);
}

/** An exception event and the error status, as instrumentations record a failure. */
export function markFailed(span: Span, error: unknown): void {
  if (!span.isRecording()) return;
  const exception = error instanceof Error ? error : new Error(String(error));
  span.recordException(exception);
  span.setStatus({ code: SpanStatusCode.ERROR, message: exception.message.slice(0, 300) });
  span.setAttribute('error.type', errorType(error));
}

function errorType(error: unknown): string {
  const e = error as { code?: unknown; name?: unknown };
  return typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'Error';
}
