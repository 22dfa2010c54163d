import type { DataSource } from 'typeorm';

/** The subset of mysql2's pool Echo reads: mysql2 has no public stats API (node-mysql2#1594). */
export interface Mysql2Pool {
  config: { idleTimeout: number; connectionLimit: number };
  _allConnections: { length: number };
  _freeConnections: { length: number };
  _connectionQueue: { length: number };
  on(event: 'acquire' | 'release' | 'enqueue' | 'connection', listener: (...args: unknown[]) => void): void;
}

/** The primary's pool (with DB_REPLICA_URLS: the primary's pool inside TypeORM's PoolCluster). */
export function mysqlPool(dataSource: DataSource): Mysql2Pool | undefined {
  return mysqlPools(dataSource)[0]?.pool;
}

/** Every mysql2 pool of the data source: the primary first, then one per replica. */
export function mysqlPools(dataSource: DataSource): { node: string; pool: Mysql2Pool }[] {
  if (dataSource.options.type !== 'mysql') return [];
  const driver = dataSource.driver as unknown as { pool?: Mysql2Pool; poolCluster?: { _nodes?: Record<string, { pool: Mysql2Pool }> } };
  if (driver.pool) return [{ node: 'MASTER', pool: driver.pool }];
  const nodes = driver.poolCluster?._nodes ?? {};
  return Object.keys(nodes)
    .sort((a, b) => (a === 'MASTER' ? -1 : b === 'MASTER' ? 1 : a.localeCompare(b)))
    .map((node) => ({ node, pool: nodes[node].pool }));
}

export interface PoolStats {
  open: number;
  idle: number;
  waiting: number;
}

export function poolStats(dataSource: DataSource): PoolStats | undefined {
  const pool = mysqlPool(dataSource);
  if (!pool) return undefined;
  return { open: pool._allConnections.length, idle: pool._freeConnections.length, waiting: pool._connectionQueue.length };
}
