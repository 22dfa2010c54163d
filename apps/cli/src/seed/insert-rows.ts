import type { DataSource, EntityTarget, ObjectLiteral, QueryRunner } from 'typeorm';

/**
 * One multi-row INSERT of `rows` (objects keyed by the entity's property names), in its own
 * transaction unless a query runner is given. Table and column names come from the entity's
 * metadata, so the seed follows the schema; raw SQL rather than the query builder because the
 * seed writes hundreds of thousands of rows.
 */
export async function insertRows<E extends ObjectLiteral>(
  ds: DataSource,
  entity: EntityTarget<E>,
  rows: Partial<Record<keyof E & string, unknown>>[],
  qr?: QueryRunner,
): Promise<void> {
  if (!rows.length) return;
  const meta = ds.getMetadata(entity);
  const properties = Object.keys(rows[0]);
  const columns = properties.map((property) => {
    const column = meta.findColumnWithPropertyName(property);
    if (!column) throw new Error(`${meta.name} has no column for property "${property}"`);
    return `\`${column.databaseName}\``;
  });
  const placeholders = `(${columns.map(() => '?').join(', ')})`;
  const sql = `INSERT INTO \`${meta.tableName}\` (${columns.join(', ')}) VALUES ${rows.map(() => placeholders).join(', ')}`;
  const params = rows.flatMap((row) => properties.map((p) => (row as Record<string, unknown>)[p]));
  if (qr) await qr.query(sql, params);
  else await ds.transaction((em) => em.query(sql, params));
}

export const DAY_MS = 24 * 3600 * 1000;

/** A DATETIME(3) literal in UTC. */
export function sqlDate(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}
