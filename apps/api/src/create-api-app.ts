import { RequestMethod } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import helmet from '@fastify/helmet';
import compress from '@fastify/compress';
import multipart from '@fastify/multipart';
import { Logger } from 'nestjs-pino';
import type { AppConfig } from '@echo/config';
import { requestId } from '@echo/http';
import { addNestMetricsSource, installFastifyMetrics, markProcess } from '@echo/metrics';
import { VisualAnalysisService } from '@echo/visual-analysis';
import { ApiModule } from './api.module.js';
import { mountQueueDashboard, stripLoginToken } from './queue-dashboard.js';
import { mountAdminConsole } from './admin-console.js';

/**
 * Builds the API app (used by main.ts and by the e2e tests), not yet listening.
 * `shutdownHooks: false` when the caller handles SIGTERM/SIGINT itself (main.ts).
 */
export async function createApiApp(config: AppConfig, options: { logger?: boolean; shutdownHooks?: boolean } = {}): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: config.http.jsonBodyLimit,
    trustProxy: true,
    // Request ids come from pino-http (X-Request-Id); Fastify's own logger stays off.
    logger: false,
    genReqId: requestId,
    // The dashboard login's token leaves the URL before routing and logging see it.
    rewriteUrl: stripLoginToken,
  });
  const app = await NestFactory.create<NestFastifyApplication>(ApiModule.register(config), adapter, {
    bufferLogs: true,
    abortOnError: false,
    logger: options.logger === false ? false : undefined,
  });
  if (options.logger !== false) app.useLogger(app.get(Logger));
  app.flushLogs();

  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  // GET /metrics (this process; outside the /api prefix) and the request duration histogram.
  markProcess('api');
  installFastifyMetrics(fastify, config.metrics.token);
  const detachMetrics = addNestMetricsSource(app, () => app.get(VisualAnalysisService, { strict: false }).queueCounts());
  fastify.addHook('onClose', async () => detachMetrics());
  // Errors raised before a handler runs (body parsing, limits) reach DrfExceptionFilter too:
  // Nest installs Fastify's error handler as a proxy to the exception filters.

  await app.register(helmet, { contentSecurityPolicy: false });
  await app.register(compress, { threshold: 1024, encodings: ['br', 'gzip', 'deflate'] });
  await app.register(multipart, {
    // files: 2 so a second file reaches Echo's own check (a 400 naming `file`), not a 413.
    limits: { fileSize: config.uploads.maxBytes, files: 2, fields: 10, fieldSize: 64 * 1024, parts: 12 },
  });
  if (config.redis.url) await mountQueueDashboard(app, config);
  await mountAdminConsole(app);
  if (config.http.corsOrigins.length) {
    app.enableCors({ origin: config.http.corsOrigins.includes('*') ? true : config.http.corsOrigins, exposedHeaders: ['x-request-id', 'retry-after'] });
  }

  app.setGlobalPrefix('api', {
    exclude: [
      { path: 'health', method: RequestMethod.GET },
      { path: 'health/ready', method: RequestMethod.GET },
      { path: 'metrics', method: RequestMethod.GET },
    ],
  });

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Echo API')
      .setDescription('Image app backend. DRF-compatible wire format: snake_case JSON, {count, next, previous, results} pages.')
      .setVersion('1')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/json' });

  if (options.shutdownHooks !== false) app.enableShutdownHooks();
  return app;
}
