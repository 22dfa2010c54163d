import type { PageRequest, PageResult } from './page-request.js';

/** How long a cached listing page lives; short, because a page loaded from a lagging replica could be stale. */
export const PAGE_CACHE_TTL_MS = 60_000;

/** A cache key for one page of a listing: the page request and the filters, in a stable order. */
export function pageCacheKey(request: PageRequest, filters: object): string {
  const where =
    request.mode === 'page'
      ? `p${request.page}`
      : request.position
        ? `c${request.position.direction}${request.position.createdAt.getTime()}.${request.position.id}`
        : 'c';
  return [`${where}s${request.size}`, ...filterParts(filters)].join('&');
}

/**
 * Where the total of one list (a version group and its filters) is kept: it changes only when the
 * group's version does, so every page of that version needs no COUNT. `count:` keys are immutable
 * per version, so the cache keeps them in its near tier.
 */
export async function listCountKey(
  cache: { versioned(group: string, key: string): Promise<string> },
  group: string,
  filters: object,
): Promise<string> {
  return `count:${await cache.versioned(group, filterParts(filters).join('&'))}`;
}

function filterParts(filters: object): string[] {
  return Object.entries(filters)
    .filter(([name, value]) => value !== undefined && !['page', 'page_size', 'cursor'].includes(name))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => `${name}=${value instanceof Date ? value.toISOString() : String(value)}`);
}

/** A PageResult read back from the cache (JSON): cursor positions get their Dates back. */
export function revivePage<T>(result: PageResult<T>): PageResult<T> {
  if (result.mode === 'page') return result;
  const revive = (p: typeof result.next) => (p ? { ...p, createdAt: new Date(p.createdAt) } : null);
  return { ...result, next: revive(result.next), previous: revive(result.previous) };
}
