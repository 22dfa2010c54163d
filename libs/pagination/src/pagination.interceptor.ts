import {
  Inject,
  Injectable,
  Optional,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { map, mergeMap, of, type Observable } from 'rxjs';
import { CacheService } from '@echo/cache';
import { PAGE_CACHE_TTL_MS } from './page-cache.js';
import { pageBodyKey, type PageBodyGroup } from './page-body-cache.js';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { publicOrigin } from '@echo/http';
import { encodeCursor, parsePageRequest, type PageRequest, type PageResult } from './page-request.js';

export type PaginatedRequest = FastifyRequest & { pageRequest?: PageRequest };

/**
 * The one pagination mechanism. Before the handler: parses page/page_size/cursor into
 * `request.pageRequest` (read it with @PageParams()). After: turns the handler's PageResult into
 * DRF's body — {count, next, previous, results} or, in cursor mode, {next, previous, results} —
 * with absolute next/previous URLs that keep every other query parameter.
 */
export const PAGE_BODY_CACHE = 'echo:page-body-cache';

@Injectable()
export class PaginationInterceptor implements NestInterceptor {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly reflector: Reflector,
    @Optional() private readonly cache?: CacheService,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> | Promise<Observable<unknown>> {
    const request = context.switchToHttp().getRequest<PaginatedRequest>();
    request.pageRequest = parsePageRequest((request.query ?? {}) as Record<string, unknown>);
    const origin = publicOrigin(request, this.config.http.publicUrl);
    const group = this.reflector.get<PageBodyGroup | undefined>(PAGE_BODY_CACHE, context.getHandler());
    if (!group || !this.cache)
      return next.handle().pipe(map((result: PageResult<unknown>) => toBody(request, origin, result)));
    return this.fromBodyCache(
      this.cache,
      group(request as { user?: { id: number } }),
      origin,
      request,
      context.switchToHttp().getResponse<FastifyReply>(),
      next,
    );
  }

  /**
   * The serialised body under the list's version group: a hit is sent as those bytes (the
   * handler does not run; its validation already passed when the bytes were made, for the same
   * page and filters); a miss runs the handler and keeps what it sends for PAGE_CACHE_TTL_MS.
   */
  private async fromBodyCache(
    cache: CacheService,
    group: string,
    origin: string,
    request: PaginatedRequest,
    reply: FastifyReply,
    next: CallHandler,
  ): Promise<Observable<unknown>> {
    const key = await pageBodyKey(cache, group, origin, request.pageRequest!, (request.query ?? {}) as object);
    const hit = await cache.getBody(key);
    reply.type('application/json; charset=utf-8');
    if (hit !== undefined) return of(hit);
    return next.handle().pipe(
      mergeMap(async (result: PageResult<unknown>) => {
        const text = JSON.stringify(toBody(request, origin, result));
        await cache.setBody(key, text, PAGE_CACHE_TTL_MS);
        return text;
      }),
    );
  }
}

function toBody(request: PaginatedRequest, origin: string, result: PageResult<unknown>) {
  const pageRequest = request.pageRequest!;
  if (result.mode === 'cursor') {
    return {
      next: result.next ? link(request, origin, { cursor: encodeCursor(result.next), page: null }) : null,
      previous: result.previous ? link(request, origin, { cursor: encodeCursor(result.previous), page: null }) : null,
      results: result.items,
    };
  }
  const page =
    pageRequest.mode === 'page' && pageRequest.page > 0
      ? pageRequest.page
      : Math.max(1, Math.ceil(result.count / pageRequest.size));
  const hasNext = page * pageRequest.size < result.count;
  return {
    count: result.count,
    next: hasNext ? link(request, origin, { page: String(page + 1) }) : null,
    // Like DRF, the link to page 1 drops the page parameter.
    previous: page > 1 ? link(request, origin, { page: page === 2 ? null : String(page - 1) }) : null,
    results: result.items,
  };
}

function link(request: FastifyRequest, origin: string, changes: Record<string, string | null>): string {
  const url = new URL(request.url, origin);
  for (const [name, value] of Object.entries(changes)) {
    if (value === null) url.searchParams.delete(name);
    else url.searchParams.set(name, value);
  }
  return url.toString();
}
