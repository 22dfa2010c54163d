import {
  applyDecorators,
  createParamDecorator,
  SetMetadata,
  UseInterceptors,
  type ExecutionContext,
  type Type,
} from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiQuery, getSchemaPath } from '@nestjs/swagger';
import { PAGE_BODY_CACHE, PaginationInterceptor, type PaginatedRequest } from './pagination.interceptor.js';
import type { PageBodyGroup } from './page-body-cache.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type PageRequest } from './page-request.js';

export interface PaginatedOptions {
  /**
   * Cache the serialised page body (the exact bytes sent) under this version group of the cache,
   * keyed by origin and URL: a repeat request is answered from those bytes without running the
   * handler, parsing or re-serialising anything. Only for lists whose every change bumps the group.
   */
  bodyCache?: PageBodyGroup;
}

/**
 * Marks a list route as paginated: installs the shared interceptor and documents the query
 * parameters and the DRF page schema of `item` in OpenAPI.
 */
export function Paginated(item: Type<unknown>, options: PaginatedOptions = {}) {
  return applyDecorators(
    UseInterceptors(PaginationInterceptor),
    ...(options.bodyCache ? [SetMetadata(PAGE_BODY_CACHE, options.bodyCache)] : []),
    ApiExtraModels(item),
    ApiQuery({
      name: 'page',
      required: false,
      description: '1-based page number (or "last"). Invalid/out of range → 404 {"detail": "Invalid page."}',
    }),
    ApiQuery({
      name: 'page_size',
      required: false,
      description: `Items per page, default ${DEFAULT_PAGE_SIZE}, clamped to ${MAX_PAGE_SIZE}`,
    }),
    ApiQuery({
      name: 'cursor',
      required: false,
      description: 'Keyset mode for deep lists: pass an empty value to start, then follow next/previous',
    }),
    ApiOkResponse({
      description: 'Page mode: {count, next, previous, results}; cursor mode: {next, previous, results}',
      schema: {
        type: 'object',
        required: ['next', 'previous', 'results'],
        properties: {
          count: { type: 'integer', example: 123, description: 'absent in cursor mode' },
          next: { type: 'string', format: 'uri', nullable: true },
          previous: { type: 'string', format: 'uri', nullable: true },
          results: { type: 'array', items: { $ref: getSchemaPath(item) } },
        },
      },
    }),
  );
}

/** The parsed page request of a @Paginated() route. */
export const PageParams = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): PageRequest => ctx.switchToHttp().getRequest<PaginatedRequest>().pageRequest!,
);
