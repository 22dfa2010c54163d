import type { EntityManager } from 'typeorm';

/**
 * Hand-written reads on the caller's connection (a `withReadConnection` manager): TypeORM's pool
 * and replica routing, none of its query building or entity hydration. Datetimes: mysql2 (with
 * `timezone: 'Z'`) takes and gives Dates; TypeORM's SQLite driver keeps them as UTC text
 * `YYYY-MM-DD HH:MM:SS.SSS`, which better-sqlite3 can neither bind from a Date nor parse.
 */
export function sqlReader(manager: EntityManager) {
  const sqlite = manager.connection.options.type === 'better-sqlite3';
  return {
    sqlite,
    query: <R>(sql: string, params: unknown[]) => manager.query(sql, params) as Promise<R[]>,
    param: (date: Date): unknown => (sqlite ? date.toISOString().replace('T', ' ').slice(0, 23) : date),
    date: (value: unknown): Date =>
      value instanceof Date ? value : new Date(sqlite ? `${String(value).replace(' ', 'T')}Z` : String(value)),
  };
}
