import type { DataSource } from 'typeorm';

/** The subset of mysql2's pool Echo reads: mysql2 has no public stats API (node-mysql2#1594). */
export interface Mysql2Pool {
  config: { idleTimeout: number; connectionLimit: number };
  _allConnections: { length: number };
  _freeConnections: { length: number };
  _connectionQueue: { length: number };
  on(event: 'acquire' | 'release' | 'enqueue' | 'connection', listener: (...args: unknown[]) => void): void;
}

export function mysqlPool(dataSource: DataSource): Mysql2Pool | undefined {
  if (dataSource.options.type !== 'mysql') return undefined;
  const driver = dataSource.driver as unknown as { pool?: Mysql2Pool; poolCluster?: unknown };
  return driver.pool;
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
