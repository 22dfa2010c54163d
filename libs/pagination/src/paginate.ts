import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { PageRequest, PageResult } from './page-request.js';
import { cursorLinks } from './cursor-links.js';
import { invalidPage } from './page-request.js';

/**
 * Runs a listing query in the requested mode, newest first by (createdAt, id).
 * Page mode: COUNT + LIMIT/OFFSET. Cursor (keyset) mode: a range scan from the position,
 * so its cost does not grow with depth. The query should select one root entity without
 * to-many joins; load related rows for the page separately (id IN …) to avoid N+1 and
 * the wrong counts joins give (typeorm#11744).
 */
export interface PaginateOptions {
  /** The entity's creation-time property (default `createdAt`): the keyset's first column. */
  timeProperty?: string;
  /** Page mode only: another ordering (e.g. an admin's `ordering=username`); `id` breaks ties. */
  order?: { property: string; direction: 'ASC' | 'DESC' };
}

export async function paginate<T extends ObjectLiteral>(
  qb: SelectQueryBuilder<T>,
  request: PageRequest,
  options: PaginateOptions = {},
): Promise<PageResult<T>> {
  const a = qb.alias;
  const time = options.timeProperty ?? 'createdAt';
  const key = (row: T) => ({ createdAt: row[time] as Date, id: row.id as string | number });
  if (request.mode === 'page') {
    const order = options.order ?? { property: time, direction: 'DESC' };
    const counting = qb.clone().orderBy();
    const rows = (page: number) =>
      qb
        .orderBy(`${a}.${order.property}`, order.direction)
        .addOrderBy(`${a}.id`, order.direction)
        .limit(request.size)
        .offset((page - 1) * request.size)
        .getMany();
    if (request.page === 1) {
      // A first page shorter than page_size is the whole list: its count needs no COUNT(*) (the
      // common case, one query less). Later pages count first, so a page past the end is refused
      // before any OFFSET query runs.
      const items = await rows(1);
      return { mode: 'page', items, count: items.length < request.size ? items.length : await counting.getCount() };
    }
    const count = await counting.getCount();
    const lastPage = Math.max(1, Math.ceil(count / request.size));
    const page = request.page === -1 ? lastPage : request.page;
    if (page > lastPage) throw invalidPage();
    return { mode: 'page', items: await rows(page), count };
  }

  const position = request.position;
  const backwards = position?.direction === 'p';
  if (position) {
    const op = backwards ? '>' : '<';
    qb.andWhere(`(${a}.${time} ${op} :cursorAt OR (${a}.${time} = :cursorAt AND ${a}.id ${op} :cursorId))`, {
      cursorAt: position.createdAt,
      cursorId: position.id,
    });
  }
  const order = backwards ? 'ASC' : 'DESC';
  const rows = await qb
    .orderBy(`${a}.${time}`, order)
    .addOrderBy(`${a}.id`, order)
    .limit(request.size + 1)
    .getMany();
  return { mode: 'cursor', ...cursorLinks(rows, request.size, position, key) };
}
