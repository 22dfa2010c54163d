import { HttpException, HttpStatus } from '@nestjs/common';
import { isDatabaseUnavailable } from '@echo/database';

/** A 400 whose body is already DRF's field-error map: {"field": ["message", …]}. */
export class FieldErrorsException extends HttpException {
  constructor(readonly fields: Record<string, string[]>) {
    super(fields, HttpStatus.BAD_REQUEST);
  }
}

export interface DrfError {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string>;
  /** Unexpected: log it with the request id. */
  unexpected: boolean;
}

const DEFAULT_DETAIL: Record<number, string> = {
  400: 'Bad request.',
  401: 'Authentication credentials were not provided.',
  403: 'You do not have permission to perform this action.',
  404: 'Not found.',
  405: 'Method not allowed.',
  406: 'Could not satisfy the request Accept header.',
  409: 'Conflict.',
  413: 'Request entity too large.',
  415: 'Unsupported media type in request.',
  422: 'Unprocessable entity.',
  429: 'Request was throttled.',
  503: 'Service temporarily unavailable, try again later.',
};

// Messages frameworks produce that should read like DRF's.
const FRAMEWORK_MESSAGES =
  /^(Cannot (GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) .*|Not Found|Unauthorized|Forbidden|Bad Request|Forbidden resource|Payload Too Large|Unsupported Media Type|Too Many Requests|ThrottlerException: Too Many Requests|Service Unavailable|Conflict|Unprocessable Entity|Method Not Allowed)$/;

/** Maps anything thrown while serving a request to DRF's wire shape. */
export function toDrfError(exception: unknown): DrfError {
  if (exception instanceof FieldErrorsException) {
    return { status: 400, body: exception.fields, headers: {}, unexpected: false };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    const headers: Record<string, string> = {};
    const retryAfter = (exception as { retryAfter?: number }).retryAfter;
    if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
    Object.assign(headers, (exception as { headers?: Record<string, string> }).headers);
    if (status >= 500 && status !== 503) return internal();
    // Fields an exception adds beside its detail (e.g. a code and a date a client acts on).
    const extra = (exception as { extraBody?: Record<string, unknown> }).extraBody;
    return { status, body: { detail: detailOf(response, status), ...extra }, headers, unexpected: false };
  }
  if (isDatabaseUnavailable(exception)) {
    return { status: 503, body: { detail: DEFAULT_DETAIL[503] }, headers: { 'retry-after': '1' }, unexpected: false };
  }
  // Fastify's own errors (body parser, multipart limits) carry a 4xx statusCode.
  const fastifyError = exception as { statusCode?: number; code?: string; message?: string };
  if (typeof fastifyError?.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    const status = fastifyError.statusCode;
    return { status, body: { detail: fastifyDetail(fastifyError, status) }, headers: {}, unexpected: false };
  }
  return internal();
}

function internal(): DrfError {
  return { status: 500, body: { detail: 'Internal server error.' }, headers: {}, unexpected: true };
}

function detailOf(response: string | object, status: number): string {
  const message = typeof response === 'string' ? response : (response as { message?: unknown }).message;
  const text = Array.isArray(message) ? message.join(' ') : typeof message === 'string' ? message : undefined;
  if (!text || FRAMEWORK_MESSAGES.test(text)) return DEFAULT_DETAIL[status] ?? 'Error.';
  return text;
}

function fastifyDetail(error: { code?: string; message?: string }, status: number): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return `JSON parse error - ${error.message ?? 'invalid JSON'}`;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return DEFAULT_DETAIL[415];
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_PARTS_LIMIT':
    case 'FST_FILES_LIMIT':
      return DEFAULT_DETAIL[413];
    default:
      return DEFAULT_DETAIL[status] ?? error.message ?? 'Bad request.';
  }
}
