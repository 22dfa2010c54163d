import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { RequestMethod } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import { LoggerModule } from 'nestjs-pino';
import { pinoHttp, type Options } from 'pino-http';
import type { AppConfig } from '@echo/config';
import { loggableUrl } from './loggable-url.js';
import { prettyTransport } from './log-format.js';

export { loggableUrl };

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** pino-http's options for one app: the Nest logger's root and the API's request log share them. */
function httpLogOptions(config: AppConfig, app: 'api' | 'worker'): Options {
  return {
    level: config.http.logLevel,
    // Readable lines in a developer's terminal; JSON everywhere else (log-format.ts).
    transport: prettyTransport(config),
    base: { app, pid: process.pid },
    autoLogging: app === 'api',
    // Fastify assigns the id (requestId below); pino-http reuses req.id.
    genReqId: (req: IncomingMessage) => (req as { id?: string }).id ?? requestId(req),
    // Never log credentials.
    redact: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
    serializers: {
      req: (req: { id: string; method: string; url: string }) => ({
        id: req.id,
        method: req.method,
        url: loggableUrl(req.url),
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  };
}

/**
 * Structured JSON logs (pino) with a request id per request, echoed in `X-Request-Id`. The API
 * logs its requests from a Fastify hook (logRequests), not nestjs-pino's middleware: that runs
 * each request inside an AsyncLocalStorage, and one in use makes every promise in the process pay
 * for async hooks (~5 % of a cached request's CPU on Node 20, plus the middleware layer's own).
 */
export function loggingModule(config: AppConfig, app: 'api' | 'worker') {
  return LoggerModule.forRoot({
    // The worker: one explicit catch-all route (the default list logs prefix-excluded paths twice).
    forRoutes: app === 'api' ? [] : [{ path: '{*splat}', method: RequestMethod.ALL }],
    pinoHttp: httpLogOptions(config, app),
  });
}

/**
 * One log line per API request (pino-http, as the middleware logged it), from an onRequest hook.
 * pino-http writes those lines at info; when LOG_LEVEL is above that (production's warn) they are
 * never written, so no hook is added: pino-http would still build a child logger, serialise and
 * redact the request and listen for its end on every request (~5 % of a cached page's CPU).
 */
export function logRequests(fastify: FastifyInstance, config: AppConfig): void {
  const log = pinoHttp(httpLogOptions(config, 'api'));
  if (!log.logger.isLevelEnabled('info')) return;
  fastify.addHook('onRequest', (request, reply, done) => {
    // pino-http reuses the id Fastify gave the request (X-Request-Id) instead of making another.
    (request.raw as { id?: string }).id = request.id;
    log(request.raw, reply.raw);
    done();
  });
}

/** The client's X-Request-Id when it is sane, else a new UUID. */
export function requestId(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}
