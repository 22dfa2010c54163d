import type { Telemetry } from 'bullmq';

/**
 * What the lazily loaded parts (tracing.ts, sentry.ts) leave for the always-loaded helpers: one
 * module instance per process, so these are process-wide. All empty while telemetry is off.
 */
export const telemetryState: {
  /** BullMQ's `telemetry` option (bullmq-otel), set once tracing has started. */
  bullmq?: Telemetry;
  /** Sentry.captureException, set once Sentry has started. */
  captureException?: (error: unknown) => void;
  /** Flush and stop what started (tracing's batch exporter, Sentry's queue), in start order. */
  stoppers: Array<(timeoutMs: number) => Promise<unknown>>;
} = { stoppers: [] };

/**
 * The `telemetry` option for BullMQ queues and workers: traces each job from the enqueue (its
 * producer span) to the worker's `process` span, which continues the enqueuing request's trace.
 * Undefined while tracing is off, so BullMQ does no tracing work at all.
 */
export function queueTelemetry(): Telemetry | undefined {
  return telemetryState.bullmq;
}
