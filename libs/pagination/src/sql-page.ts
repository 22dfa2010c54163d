import type { CursorPosition, PageRequest, PageResult } from './page-request.js';
import { invalidCursor, invalidPage } from './page-request.js';
import { cursorLinks } from './cursor-links.js';

/** One statement on the listing's connection, and how its dialect takes and gives datetimes. */
export interface SqlReader {
  query<R>(sql: string, params: unknown[]): Promise<R[]>;
  /** A Date as this driver compares it with a datetime column. */
  param(date: Date): unknown;
  /** A datetime column's value as this driver returns it. */
  date(value: unknown): Date;
}

/**
 * A list read as hand-written SQL on TypeORM's pool, ordered by (a date column, id), newest first
 * unless `order` says otherwise. `where` filters the listed table alone (so its index drives the
 * scan); `select` and `joins` shape each row of the page and are evaluated for the page's rows only
 * (a deferred join: the scan reads ids from the index, then at most page_size rows are looked up
 * and joined). `select` must name the listed table's ordering column and `id` as such (the keyset).
 */
export interface SqlList {
  /** The listed table and its alias: `uploads up`. */
  table: string;
  alias: string;
  where: string[];
  params: unknown[];
  select: string;
  joins?: string;
  /** The keyset's date column (default created_at, descending); `tag` marks cursors taken in it. */
  order?: { column: string; descending: boolean; tag?: string };
  /** An index hint after the table in the scan and the count (`FORCE INDEX (…)`, SQLite `INDEXED BY …`). */
  hint?: string;
  /** The count's own hint, when a narrower index holds the same rows (fewer bytes to count than the scan's). */
  countHint?: string;
  /**
   * Another table drives the scan and the count (an index of words, say): `from` is the whole FROM
   * clause (joining the listed table under its alias when `where` reads it), `alias` the driving
   * table's, which carries the ordering column, and `id` its column holding the listed row's id.
   */
  scan?: { from: string; alias: string; id: string };
}

/** Deeper than any list can be: a page beyond it is refused without a query. */
const MAX_OFFSET = 2 ** 32;

interface KeyedRow {
  id: string | number;
}

/**
 * A page in the requested mode, in ONE statement where it can be:
 * - page mode with the count unknown: the page's rows carry the list's COUNT(*) (an uncorrelated
 *   scalar subquery, evaluated once); an empty page beyond the first is past the end (404);
 * - page mode with `knownCount` (kept per list version by the caller): the rows alone, and a page
 *   past the end is refused before any query;
 * - `page=last` with the count unknown: COUNT first, then the rows (two);
 * - cursor (keyset) mode: a range scan from the position, page_size + 1 rows, no count.
 */
export async function pageBySql<R extends KeyedRow>(
  db: SqlReader,
  list: SqlList,
  request: PageRequest,
  knownCount?: number,
): Promise<PageResult<R>> {
  const a = list.alias;
  const column = list.order?.column ?? 'created_at';
  const descending = list.order?.descending ?? true;
  const scan = list.scan ?? { from: list.hint ? `${list.table} ${list.hint}` : list.table, alias: a, id: 'id' };
  const k = scan.alias;
  const where = list.where.length ? `WHERE ${list.where.join(' AND ')}` : '';
  const counted = list.scan || !list.countHint ? scan.from : `${list.table} ${list.countHint}`;
  const countSql = `SELECT COUNT(*) FROM ${counted} ${where}`;
  /**
   * `forward`: in the list's own order (else reversed, for a cursor's previous page). `withCount`:
   * each row carries the list's COUNT(*) too, for a page whose total is not known yet.
   */
  const rows = async (
    extraWhere: string,
    extraParams: unknown[],
    forward: boolean,
    limit: number,
    offset = 0,
    withCount = false,
  ) => {
    const conditions = extraWhere ? [...list.where, extraWhere] : list.where;
    const inner = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
    const dir = forward === descending ? 'DESC' : 'ASC';
    const scanOrder = `ORDER BY ${k}.${column} ${dir}, ${k}.${scan.id} ${dir}`;
    const orderBy = `ORDER BY ${a}.${column} ${dir}, ${a}.id ${dir}`;
    const sql =
      `SELECT ${list.select}${withCount ? `, (${countSql}) AS list_total` : ''} ` +
      `FROM (SELECT ${k}.${scan.id} AS id FROM ${scan.from} ${inner} ${scanOrder} LIMIT ? OFFSET ?) page_ids ` +
      `JOIN ${list.table} ON ${a}.id = page_ids.id ${list.joins ?? ''} ${orderBy}`;
    const params = [...(withCount ? list.params : []), ...list.params, ...extraParams, limit, offset];
    return db.query<R & { list_total?: number }>(sql, params);
  };

  if (request.mode === 'page') {
    // No list has this many rows (and the offset would not be an exact integer).
    if ((request.page - 1) * request.size > MAX_OFFSET) throw invalidPage();
    let count = knownCount;
    if (count === undefined && request.page === -1) {
      // The last page's number needs the total first.
      const [row] = await db.query<Record<string, unknown>>(countSql, list.params);
      count = Number(Object.values(row)[0]);
    }
    if (count !== undefined) {
      // Known now (kept, or just counted for page=last): the rows alone.
      const lastPage = Math.max(1, Math.ceil(count / request.size));
      const page = request.page === -1 ? lastPage : request.page;
      if (page > lastPage) throw invalidPage();
      const items = count ? await rows('', [], true, request.size, (page - 1) * request.size) : [];
      return { mode: 'page', items: items.map(stripTotal), count };
    }
    const items = await rows('', [], true, request.size, (request.page - 1) * request.size, true);
    if (!items.length && request.page > 1) throw invalidPage();
    const total = items.length ? Number(items[0].list_total) : 0;
    return { mode: 'page', items: items.map(stripTotal), count: total };
  }

  const position = request.position;
  const tag = list.order?.tag;
  // A cursor taken in another ordering would silently skip or repeat rows.
  if (position && position.order !== tag) throw invalidCursor();
  const backwards = position?.direction === 'p';
  // Past the position in the direction read: "smaller" when reading a descending list forwards.
  const op = backwards === descending ? '>' : '<';
  const at = position ? db.param(position.createdAt) : undefined;
  const found = await rows(
    position ? `(${k}.${column} ${op} ? OR (${k}.${column} = ? AND ${k}.${scan.id} ${op} ?))` : '',
    position ? [at, at, position.id] : [],
    !backwards,
    request.size + 1,
  );
  const key = (row: R): Omit<CursorPosition, 'direction'> => ({
    createdAt: db.date((row as unknown as Record<string, unknown>)[column]),
    id: row.id,
    ...(tag ? { order: tag } : {}),
  });
  return { mode: 'cursor', ...cursorLinks(found, request.size, position, key) };
}

function stripTotal<R>(row: R & { list_total?: number }): R {
  delete row.list_total;
  return row;
}
