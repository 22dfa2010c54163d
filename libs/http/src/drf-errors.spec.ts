import {
  BadRequestException,
  ForbiddenException,
  HttpException,
  InternalServerErrorException,
  NotFoundException,
  ServiceUnavailableException,
} from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { FieldErrorsException, toDrfError } from './drf-errors.js';

describe('toDrfError', () => {
  it('passes field errors through as the body', () => {
    expect(toDrfError(new FieldErrorsException({ email: ['Enter a valid email address.'] }))).toEqual({
      status: 400,
      body: { email: ['Enter a valid email address.'] },
      headers: {},
      unexpected: false,
    });
  });

  it('keeps an HttpException message as the detail', () => {
    expect(toDrfError(new NotFoundException('Invalid page.'))).toMatchObject({
      status: 404,
      body: { detail: 'Invalid page.' },
      unexpected: false,
    });
    expect(toDrfError(new BadRequestException(['a.', 'b.']))).toMatchObject({ body: { detail: 'a. b.' } });
  });

  it("adds an exception's extra body fields after the detail", () => {
    const err = Object.assign(new ForbiddenException('Scheduled.'), { extraBody: { code: 'x', at: '2030-01-01' } });
    expect(toDrfError(err).body).toEqual({ detail: 'Scheduled.', code: 'x', at: '2030-01-01' });
  });

  it("replaces the framework's own wording with DRF's", () => {
    expect(toDrfError(new NotFoundException()).body).toEqual({ detail: 'Not found.' });
    expect(toDrfError(new NotFoundException('Cannot GET /api/nope')).body).toEqual({ detail: 'Not found.' });
    expect(toDrfError(new ForbiddenException('Forbidden resource')).body).toEqual({
      detail: 'You do not have permission to perform this action.',
    });
    expect(toDrfError(new HttpException('ThrottlerException: Too Many Requests', 429)).body).toEqual({
      detail: 'Request was throttled.',
    });
  });

  it('carries Retry-After and exception headers', () => {
    const e = Object.assign(new ServiceUnavailableException('Busy.'), { retryAfter: 3 });
    expect(toDrfError(e)).toMatchObject({ status: 503, headers: { 'retry-after': '3' }, body: { detail: 'Busy.' } });
  });

  it('hides 5xx other than 503, and anything unknown, as an unexpected 500', () => {
    const hidden = { status: 500, body: { detail: 'Internal server error.' }, headers: {}, unexpected: true };
    expect(toDrfError(new InternalServerErrorException('db password is x'))).toEqual(hidden);
    expect(toDrfError(new Error('boom at /srv/echo'))).toEqual(hidden);
    expect(toDrfError(undefined)).toEqual(hidden);
  });

  it('maps a full or closed database pool to 503 with Retry-After', () => {
    expect(toDrfError(new Error('Queue limit reached.'))).toEqual({
      status: 503,
      body: { detail: 'Service temporarily unavailable, try again later.' },
      headers: { 'retry-after': '1' },
      unexpected: false,
    });
  });

  it("maps Fastify's 4xx errors by code", () => {
    expect(
      toDrfError({ statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY', message: 'Unexpected token' }).body,
    ).toEqual({
      detail: 'JSON parse error - Unexpected token',
    });
    expect(toDrfError({ statusCode: 413, code: 'FST_REQ_FILE_TOO_LARGE' }).body).toEqual({
      detail: 'Request entity too large.',
    });
    expect(toDrfError({ statusCode: 415, code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' }).body).toEqual({
      detail: 'Unsupported media type in request.',
    });
    // A 5xx statusCode from a plugin is not trusted as a client error.
    expect(toDrfError({ statusCode: 502, message: 'x' }).status).toBe(500);
  });
});
