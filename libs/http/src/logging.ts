import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { RequestMethod } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { AppConfig } from '@echo/config';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** Structured JSON logs (pino) with a request id per request, echoed in `X-Request-Id`. */
export function loggingModule(config: AppConfig, app: 'api' | 'worker') {
  return LoggerModule.forRoot({
    // One explicit catch-all route: the default list logs prefix-excluded paths twice.
    forRoutes: [{ path: '{*splat}', method: RequestMethod.ALL }],
    pinoHttp: {
      level: config.http.logLevel,
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
    },
  });
}

/** The client's X-Request-Id when it is sane, else a new UUID. */
export function requestId(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

// Query parameters that carry a credential: a media URL's signature (valid for an hour), an event
// stream ticket, a token someone pasted into the old dashboard login URL.
const SECRET_PARAMS = /([?&](?:sig|ticket|token)=)[^&#]*/gi;
const MAX_LOGGED_URL = 2048;

/** The URL as logs keep it: credentials in the query replaced, and bounded in length. */
export function loggableUrl(url: string): string {
  const clean = url.replace(SECRET_PARAMS, '$1[redacted]');
  return clean.length > MAX_LOGGED_URL ? `${clean.slice(0, MAX_LOGGED_URL)}…` : clean;
}
