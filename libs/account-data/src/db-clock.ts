import type { DataSource, EntityManager } from 'typeorm';
import { isMysql } from '@echo/database';

/**
 * The database's clock in SQL, in the form the datetime columns hold (UTC, milliseconds): what a
 * restore and a purge compare `delete_after` with, so no process's clock decides between them.
 * MariaDB: UTC_TIMESTAMP(3) rather than NOW(3), which follows the session's time zone (mysql2
 * writes Dates as UTC whatever it is). SQLite keeps UTC text `YYYY-MM-DD HH:MM:SS.SSS`.
 */
export function dbNowSql(dataSource: DataSource): string {
  return isMysql(dataSource) ? 'UTC_TIMESTAMP(3)' : "strftime('%Y-%m-%d %H:%M:%f', 'now')";
}

/** The database's clock now, read on this manager's connection. */
export async function dbNow(manager: EntityManager): Promise<Date> {
  const [row] = (await manager.query(`SELECT ${dbNowSql(manager.connection)} AS now`)) as { now: unknown }[];
  return row.now instanceof Date ? row.now : new Date(`${String(row.now).replace(' ', 'T')}Z`);
}
