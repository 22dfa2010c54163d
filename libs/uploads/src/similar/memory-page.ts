import { FieldErrorsException } from '@echo/http';
import { invalidPage, type PageRequest } from '@echo/pagination';

/**
 * One page of a list worked out in memory (similar photos, duplicate groups), with DRF's
 * PageNumberPagination rules: `page=last` is the last page, a page past the end is 404 "Invalid
 * page." (page 1 of an empty list is an empty page). These lists are ordered by distance or group
 * size, which no keyset cursor follows: `cursor` is refused with a 400 naming it.
 */
export function memoryPage<T>(all: readonly T[], request: PageRequest): { items: T[]; count: number } {
  if (request.mode !== 'page')
    throw new FieldErrorsException({
      cursor: ['This list is ordered by distance or size: page through it with page.'],
    });
  const lastPage = Math.max(1, Math.ceil(all.length / request.size));
  const page = request.page === -1 ? lastPage : request.page;
  if (page > lastPage) throw invalidPage();
  return { items: all.slice((page - 1) * request.size, page * request.size), count: all.length };
}

/** Refuses cursor mode before any work is done for the list (see memoryPage). */
export function pageModeOnly(request: PageRequest): asserts request is Extract<PageRequest, { mode: 'page' }> {
  if (request.mode !== 'page')
    throw new FieldErrorsException({
      cursor: ['This list is ordered by distance or size: page through it with page.'],
    });
}
