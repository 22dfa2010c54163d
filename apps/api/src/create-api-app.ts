import { RequestMethod } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import underPressure from '@fastify/under-pressure';
import compress from '@fastify/compress';
import multipart from '@fastify/multipart';
import cookie from '@fastify/cookie';
import { Logger } from 'nestjs-pino';
import type { FastifyReply } from 'fastify';
import type { AppConfig } from '@echo/config';
import {
  bearerToken,
  depthLimitedJsonParser,
  drfClientErrorHandler,
  hostGuard,
  logRequests,
  refuseContentEncoding,
  requestId,
  securityHeaders,
} from '@echo/http';
import { addNestMetricsSource, installFastifyMetrics, markProcess } from '@echo/metrics';
import { poolWaitTimedOutWithin } from '@echo/database';
import { DataSource } from 'typeorm';
import { VisualAnalysisService } from '@echo/visual-analysis';
import { ownUploadsPageGroup, passTusBodiesThrough } from '@echo/uploads';
import { CacheService } from '@echo/cache';
import { servePageBodiesEarly } from '@echo/pagination';
import { Authenticator, serveProfileEarly } from '@echo/users';
import { ApiModule } from './api.module.js';
import { mountQueueDashboard } from './queue-dashboard.js';
import { mountAdminConsole } from './admin-console.js';

/**
 * Builds the API app (used by main.ts and by the e2e tests), not yet listening.
 * `shutdownHooks: false` when the caller handles SIGTERM/SIGINT itself (main.ts).
 */
export async function createApiApp(
  config: AppConfig,
  options: { logger?: boolean; shutdownHooks?: boolean } = {},
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: config.http.jsonBodyLimit,
    // X-Forwarded-* only from the proxies TRUST_PROXY names (default: none).
    // (A hop count is valid at runtime: proxy-addr; Fastify's type omits it.)
    trustProxy: config.http.trustProxy as boolean | string[],
    // Slow or stuck clients cannot hold a connection forever.
    requestTimeout: config.http.requestTimeoutMs,
    connectionTimeout: config.http.connectionTimeoutMs,
    keepAliveTimeout: config.http.keepAliveTimeoutMs,
    // Node checks the request/headers deadlines only this often (default 30 s).
    http: {
      headersTimeout: config.http.headersTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, config.http.headersTimeoutMs),
    },
    // Request ids come from pino-http (X-Request-Id); Fastify's own logger stays off.
    logger: false,
    genReqId: requestId,
    // DRF routes end in a slash (`/api/uploads/`) and clients written against it send one: both spellings are one route.
    routerOptions: { ignoreTrailingSlash: true },
    // A malformed URL or an over-long path parameter: DRF bodies, not Fastify's.
    // What Node's parser refuses (a body longer than its Content-Length, a timed-out request): DRF bodies too.
    clientErrorHandler: drfClientErrorHandler,
    frameworkErrors: (error: { code?: string }, _request: unknown, reply: FastifyReply) => {
      if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') return reply.code(404).send({ detail: 'Not found.' });
      return reply.code(400).send({ detail: 'Malformed request URL.' });
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(ApiModule.register(config), adapter, {
    bufferLogs: true,
    abortOnError: false,
    logger: options.logger === false ? false : undefined,
  });
  if (options.logger !== false) app.useLogger(app.get(Logger));
  app.flushLogs();

  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  logRequests(fastify, config);
  fastify.addHook('onRequest', hostGuard(config.http.allowedHosts));
  fastify.addHook('onRequest', refuseContentEncoding);
  app.useBodyParser('application/json', { bodyLimit: config.http.jsonBodyLimit }, depthLimitedJsonParser(fastify));
  // GET /metrics (this process; outside the /api prefix) and the request duration histogram.
  markProcess('api');
  installFastifyMetrics(fastify, config.metrics.token);
  const analyses = () => app.get(VisualAnalysisService, { strict: false });
  const detachMetrics = addNestMetricsSource(app, {
    counts: () => analyses().queueCounts(),
    oldestWaiting: () => analyses().queueOldestWaiting(),
  });
  fastify.addHook('onClose', async () => detachMetrics());
  // Errors raised before a handler runs (body parsing, limits) reach DrfExceptionFilter too:
  // Nest installs Fastify's error handler as a proxy to the exception filters.

  // Shed load instead of swelling: past these thresholds a request is answered 503 at once
  // rather than queued behind the backlog (which holds its memory meanwhile). With a MySQL pool,
  // also for a second after a request gave up waiting DB_POOL_WAIT_TIMEOUT_MS for a connection
  // (the database is behind): newcomers are refused at the door at once, before doing any work,
  // rather than each waiting out its own bound (slow 503s) or using the database for its
  // authentication and then being refused for its next query.
  const { maxEventLoopDelayMs, maxRssBytes, maxHeapUsedBytes } = config.http.pressure;
  const waitBoundMs = config.database.waitTimeoutMs;
  const dataSource = config.database.url && waitBoundMs ? app.get(DataSource, { strict: false }) : undefined;
  if (maxEventLoopDelayMs || maxRssBytes || maxHeapUsedBytes || dataSource) {
    await app.register(underPressure, {
      maxEventLoopDelay: maxEventLoopDelayMs || undefined,
      maxRssBytes: maxRssBytes || undefined,
      maxHeapUsedBytes: maxHeapUsedBytes || undefined,
      ...(dataSource && {
        healthCheck: () => Promise.resolve(!poolWaitTimedOutWithin(dataSource, 1000)),
        healthCheckInterval: 250,
      }),
      pressureHandler: (request, reply, type) => {
        // Liveness and metrics need no database: a slow one must not fail them.
        if (type === 'healthCheck' && (request.url === '/health' || request.url.startsWith('/metrics'))) return;
        void reply
          .code(503)
          .header('retry-after', '1')
          .send({ detail: 'Service temporarily unavailable, try again later.' });
      },
    });
  }
  securityHeaders(fastify, { contentSecurityPolicy: false });
  await app.register(compress, { threshold: 1024, encodings: ['br', 'gzip', 'deflate'] });
  // Cookies: the session routes (libs/users) and the queue dashboard. `hook: false`: parsed only by
  // the routes that read one, not on every request (API clients send none).
  await app.register(cookie, { hook: false });
  await app.register(multipart, {
    // files: 2 so a second file reaches Echo's own check (a 400 naming `file`), not a 413.
    limits: { fileSize: config.uploads.maxBytes, files: 2, fields: 10, fieldSize: 64 * 1024, parts: 12 },
  });
  passTusBodiesThrough(fastify);
  const authenticator = app.get(Authenticator, { strict: false });
  serveProfileEarly(fastify, authenticator);
  servePageBodiesEarly(fastify, {
    cache: app.get(CacheService, { strict: false }),
    publicUrl: config.http.publicUrl,
    routes: { '/api/uploads': ownUploadsPageGroup },
    user: (request) =>
      authenticator.authenticateRequest(request, bearerToken(request.headers.authorization)).catch(() => undefined),
  });
  if (config.redis.queue) await mountQueueDashboard(app, config);
  await mountAdminConsole(app);
  if (config.http.corsOrigins.length) {
    app.enableCors({
      origin: config.http.corsOrigins.includes('*') ? true : config.http.corsOrigins,
      exposedHeaders: ['x-request-id', 'retry-after'],
    });
  }

  app.setGlobalPrefix('api', {
    exclude: [
      { path: 'health', method: RequestMethod.GET },
      { path: 'health/ready', method: RequestMethod.GET },
      { path: 'metrics', method: RequestMethod.GET },
    ],
  });

  // Built on the first request to /docs, not at start: most API processes never serve it.
  const document = () =>
    SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle('Echo API')
        .setDescription(
          'Image app backend. DRF-compatible wire format: snake_case JSON, {count, next, previous, results} pages.',
        )
        .setVersion('1')
        .addBearerAuth()
        .build(),
    );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/json' });

  if (options.shutdownHooks !== false) app.enableShutdownHooks();
  return app;
}
