import { telemetryState } from './state.js';
import { sentryWanted, telemetryEnvErrors, tracingWanted } from './telemetry-env.js';

export type ServiceName = 'echo-api' | 'echo-worker';

/**
 * An entry point's very first step: starts OpenTelemetry tracing and/or Sentry when configured
 * (see telemetry-env.ts), else loads nothing of either. Tracing instruments modules as they are
 * loaded, so the entry point imports the app (Nest, Fastify, the drivers) only after this
 * resolves. A bad OTEL_* or SENTRY_DSN value prints its problem and exits with code 1, as the
 * app's own configuration does.
 */
export async function startTelemetry(service: ServiceName, env: Record<string, string | undefined> = process.env) {
  const problems = telemetryEnvErrors(env);
  if (problems.length) {
    console.error(problems.join('\n'));
    process.exit(1);
  }
  if (sentryWanted(env)) await (await import('./sentry.js')).startSentry(service, env);
  if (tracingWanted(env)) await (await import('./tracing.js')).startTracing(service);
}

/**
 * Sends what is still buffered (the last spans, a last error report) and stops, within
 * `timeoutMs` in all: the graceful stop's last step before the process exits. A no-op when
 * nothing was started.
 */
export async function stopTelemetry(timeoutMs = 3000): Promise<void> {
  const stoppers = telemetryState.stoppers.splice(0);
  if (!stoppers.length) return;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  await Promise.race([Promise.allSettled(stoppers.map((stop) => stop(timeoutMs))), deadline]);
  clearTimeout(timer);
}
