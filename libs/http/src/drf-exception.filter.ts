import {
  Catch,
  HttpException,
  HttpStatus,
  Logger,
  NotFoundException,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { reportError } from '@echo/telemetry';
import { toDrfError } from './drf-errors.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** The one exception filter: every error leaves in DRF's shape; unknown ones are logged, never leaked. */
@Catch()
export class DrfExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const request = ctx.getRequest<FastifyRequest>();
    const error = toDrfError(methodNotAllowed(exception, request) ?? exception);
    if (error.unexpected) {
      this.logger.error({
        msg: 'unhandled error',
        request_id: request.id,
        err: exception instanceof Error ? { message: exception.message, stack: exception.stack } : exception,
      });
      // On the request's spans (exception event, error status) and to Sentry, when they run.
      reportError(exception, request);
    }
    if (reply.sent) return;
    reply.status(error.status).headers(error.headers).send(error.body);
  }
}

/**
 * The router answers an unknown method on a known path with "not found"; DRF says 405 with an
 * Allow header. Asks Fastify's router which methods the path does have.
 */
function methodNotAllowed(exception: unknown, request: FastifyRequest): HttpException | undefined {
  if (!(exception instanceof NotFoundException) || !String(exception.message).startsWith('Cannot ')) return undefined;
  const path = request.url.split('?')[0];
  const allowed = METHODS.filter(
    (method) => method !== request.method && request.server.findRoute({ method, url: path }),
  );
  if (!allowed.length) return undefined;
  const error = new HttpException(`Method "${request.method}" not allowed.`, HttpStatus.METHOD_NOT_ALLOWED);
  return Object.assign(error, { headers: { allow: [...allowed, 'OPTIONS'].join(', ') } });
}
