import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { map, type Observable } from 'rxjs';
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
@Injectable()
export class PaginationInterceptor implements NestInterceptor {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<PaginatedRequest>();
    request.pageRequest = parsePageRequest((request.query ?? {}) as Record<string, unknown>);
    const origin = publicOrigin(request, this.config.http.publicUrl);
    return next.handle().pipe(map((result: PageResult<unknown>) => toBody(request, origin, result)));
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
  const page = pageRequest.mode === 'page' && pageRequest.page > 0 ? pageRequest.page : Math.max(1, Math.ceil(result.count / pageRequest.size));
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
