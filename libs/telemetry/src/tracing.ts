import dc from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { MySQL2Instrumentation } from '@opentelemetry/instrumentation-mysql2';
import { PinoInstrumentation } from '@opentelemetry/instrumentation-pino';
import { RedisInstrumentation } from '@opentelemetry/instrumentation-redis';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import { BullMQOtel } from 'bullmq-otel';
import type { FastifyInstance } from 'fastify';
import { loggableUrl, SECRET_QUERY_PARAMS } from '../../http/src/loggable-url.js';
import { annotateRequest, copyRequestAttributes, ignoredPath, isIncoming } from './request-attributes.js';
import { redisStatement } from './redis-statement.js';
import { housekeepingQuiet, samplerFromEnv } from './sampler.js';
import type { ServiceName } from './start-telemetry.js';
import { telemetryState } from './state.js';

/**
 * OpenTelemetry's Node SDK with the standard OTEL_* variables (exporter, protocol, endpoint,
 * headers, sampler, resource attributes, batch settings) and Echo's instrumentations. Loaded only
 * when tracing is configured, before anything it instruments (the entry points import the app
 * dynamically, after this).
 *
 * How the ESM app is instrumented on Node 20: the instrumentations patch CommonJS packages as they
 * are `require`d (require-in-the-middle): mysql2 (TypeORM requires it), pino (pino-http),
 * node-redis' internals, http (Fastify), and ioredis, required below before the app imports it.
 * import-in-the-middle's loader (`module.register`) is not used: it wraps nothing Echo needs that
 * this misses, and it costs a loader thread (~45 MB RSS) and every ESM import a cross-thread round
 * trip (start-up ~2-3x slower, measured: docs in the issue 25 note).
 */
export async function startTracing(service: ServiceName): Promise<void> {
  const metricsOrLogsAsked = (name: string) => (process.env[name] ?? '').trim() !== '';
  const sdk = new NodeSDK({
    // service.name: echo-api / echo-worker unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES
    // names it (the environment's resource is merged over this one).
    resource: defaultResource().merge(resourceFromAttributes({ 'service.name': service })),
    sampler: housekeepingQuiet(samplerFromEnv()),
    instrumentations: instrumentations(),
    // Traces only: metrics are Prometheus' (/metrics) and logs go to stdout, unless asked for.
    ...(!metricsOrLogsAsked('OTEL_METRICS_EXPORTER') && { metricReaders: [] }),
    ...(!metricsOrLogsAsked('OTEL_LOGS_EXPORTER') && { logRecordProcessors: [] }),
  });
  sdk.start();
  // ioredis is the one instrumented package Echo (and BullMQ) import as ESM. Required here first,
  // it is patched by the require hook, and every later `import 'ioredis'` gets this same instance
  // (Node serves an ESM import of a CommonJS module from the require cache).
  createRequire(import.meta.url)('ioredis');

  // Request attributes (user, upload, analysis) on every Fastify instance, as @fastify/otel
  // instruments them: at creation, before any route or hook is added.
  dc.subscribe('fastify.initialization', (message) => {
    (message as { fastify: FastifyInstance }).fastify.addHook('onSend', annotateRequest);
  });
  telemetryState.bullmq = new BullMQOtel({ tracerName: 'echo' });
  telemetryState.stoppers.push(() => sdk.shutdown());
}

function instrumentations() {
  // The instrumentation's own list (signed S3/GCS URLs) and the request log's.
  const secretParams = [
    ...SECRET_QUERY_PARAMS,
    ...[
      'Signature',
      'AWSAccessKeyId',
      'X-Goog-Signature',
      'X-Amz-Signature',
      'X-Amz-Credential',
      'X-Amz-Security-Token',
    ],
  ];
  return [
    new HttpInstrumentation({
      // Scrapes and probes are not user actions (their SQL and Redis calls are suppressed too).
      ignoreIncomingRequestHook: (request) => ignoredPath(request.url),
      redactedQueryParams: secretParams,
      requestHook: (span, request) => {
        // url.query, redacted as the request log redacts it (any spelling of a secret's name).
        if (!isIncoming(request)) return;
        const query = request.url?.indexOf('?') ?? -1;
        if (query >= 0) span.setAttribute('url.query', loggableUrl(request.url!).slice(query + 1));
      },
      applyCustomAttributesOnSpan: (span, request) => copyRequestAttributes(span, request),
    }),
    new FastifyOtelInstrumentation({
      registerOnInitialization: true,
      // A span per hook would be a dozen per request (logging, host guard, metrics, compression…):
      // the request and its handler are what an operator reads.
      instrumentHooks: false,
      requestHook: (span, request) => span.setAttribute('url.path', request.url.split('?')[0]),
    }),
    // Placeholders only: TypeORM's bound values (password hashes, tokens' hashes, e-mails) never
    // reach the span, nor do literals in the SQL text.
    new MySQL2Instrumentation({ maskStatement: true }),
    // Command and key, never values (cache entries, job data, event payloads).
    new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: redisStatement }),
    new RedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: redisStatement }),
    // trace_id/span_id/trace_flags in every log line written inside a span; lines stay on stdout.
    new PinoInstrumentation({ disableLogSending: true }),
  ];
}
