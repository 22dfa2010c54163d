import { Catch, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toDrfError } from './drf-errors.js';

/** The one exception filter: every error leaves in DRF's shape; unknown ones are logged, never leaked. */
@Catch()
export class DrfExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const request = ctx.getRequest<FastifyRequest>();
    sendDrfError(reply, request, exception, this.logger);
  }
}

export function sendDrfError(reply: FastifyReply, request: FastifyRequest, exception: unknown, logger: Pick<Logger, 'error'>): void {
  const error = toDrfError(exception);
  if (error.unexpected) {
    const requestId = (request.raw as { id?: unknown }).id;
    logger.error({ msg: 'unhandled error', request_id: requestId, err: exception instanceof Error ? { message: exception.message, stack: exception.stack } : exception });
  }
  if (reply.sent) return;
  reply.status(error.status).headers(error.headers).send(error.body);
}
