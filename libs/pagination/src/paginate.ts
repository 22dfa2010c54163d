import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { CursorPosition, PageRequest, PageResult } from './page-request.js';
import { invalidPage } from './page-request.js';

/**
 * Runs a listing query in the requested mode, newest first by (createdAt, id).
 * Page mode: COUNT + LIMIT/OFFSET. Cursor (keyset) mode: a range scan from the position,
 * so its cost does not grow with depth. The query should select one root entity without
 * to-many joins; load related rows for the page separately (id IN …) to avoid N+1 and
 * the wrong counts joins give (typeorm#11744).
 */
export async function paginate<T extends ObjectLiteral>(
  qb: SelectQueryBuilder<T>,
  request: PageRequest,
  key: (row: T) => { createdAt: Date; id: string | number } = (row) => ({ createdAt: row.createdAt, id: row.id }),
): Promise<PageResult<T>> {
  const a = qb.alias;
  if (request.mode === 'page') {
    const count = await qb.clone().orderBy().getCount();
    const lastPage = Math.max(1, Math.ceil(count / request.size));
    const page = request.page === -1 ? lastPage : request.page;
    if (page > lastPage) throw invalidPage();
    const items = await qb
      .orderBy(`${a}.createdAt`, 'DESC')
      .addOrderBy(`${a}.id`, 'DESC')
      .limit(request.size)
      .offset((page - 1) * request.size)
      .getMany();
    return { mode: 'page', items, count };
  }

  const position = request.position;
  const backwards = position?.direction === 'p';
  if (position) {
    const op = backwards ? '>' : '<';
    qb.andWhere(`(${a}.createdAt ${op} :cursorAt OR (${a}.createdAt = :cursorAt AND ${a}.id ${op} :cursorId))`, {
      cursorAt: position.createdAt,
      cursorId: position.id,
    });
  }
  const order = backwards ? 'ASC' : 'DESC';
  const rows = await qb.orderBy(`${a}.createdAt`, order).addOrderBy(`${a}.id`, order).limit(request.size + 1).getMany();
  const more = rows.length > request.size;
  const items = rows.slice(0, request.size);
  if (backwards) items.reverse();

  const at = (row: T | undefined, direction: CursorPosition['direction']): CursorPosition | null =>
    row ? { ...key(row), direction } : null;
  const firstItem = items[0];
  const lastItem = items[items.length - 1];
  // Forward: there is a next page iff we fetched one extra row; a previous one iff we started from a cursor.
  // Backward: mirrored.
  const next = backwards ? at(lastItem, 'n') ?? (position ? { ...position, direction: 'n' } : null) : more ? at(lastItem, 'n') : null;
  const previous = backwards ? (more ? at(firstItem, 'p') : null) : position ? at(firstItem, 'p') ?? { ...position, direction: 'p' } : null;
  return { mode: 'cursor', items, next, previous };
}
