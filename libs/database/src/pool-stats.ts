import { isMysql } from './transaction.js';
import type { DataSource } from 'typeorm';
import { expectField, expectMethod, isArrayLike } from './library-shape.js';

const FILE = 'libs/database/src/pool-stats.ts';

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
  if (!isMysql(dataSource)) return [];
  const driver = dataSource.driver as unknown as {
    pool?: Mysql2Pool;
    poolCluster?: { _nodes?: Record<string, { pool: Mysql2Pool }> };
  };
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
  return {
    open: pool._allConnections.length,
    idle: pool._freeConnections.length,
    waiting: pool._connectionQueue.length,
  };
}

/**
 * The private fields above are mysql2's, not a contract: DatabaseModule checks every pool at
 * start-up and fails with LibraryShapeError (naming mysql2's version) when one moved.
 */
export function assertPoolShape(dataSource: DataSource): void {
  for (const { node, pool } of mysqlPools(dataSource)) {
    const owner = `Pool (${node})`;
    for (const field of ['_allConnections', '_freeConnections', '_connectionQueue'] as const)
      expectField('mysql2', pool, field, owner, FILE, isArrayLike);
    expectField(
      'mysql2',
      pool,
      'config',
      owner,
      FILE,
      (c) =>
        typeof (c as Mysql2Pool['config'])?.idleTimeout === 'number' &&
        typeof (c as Mysql2Pool['config'])?.connectionLimit === 'number',
    );
    expectMethod('mysql2', pool, 'on', owner, FILE);
  }
}
