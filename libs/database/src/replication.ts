import { AsyncLocalStorage } from 'node:async_hooks';
import { Logger } from '@nestjs/common';
import { DataSource, type ReplicationMode } from 'typeorm';
import { expectField, expectMethod, LibraryShapeError, typeormInternal } from './library-shape.js';

/**
 * Read replicas (DB_REPLICA_URLS → TypeORM `replication`). What TypeORM 1.1 does by itself:
 * SELECTs built by a SelectQueryBuilder without a query runner (every repository find*, count,
 * exists, getMany/getOne/getRaw*) take a 'slave' connection; writes, `dataSource.query()`,
 * migrations and everything inside `dataSource.transaction()` take the 'master'. Replicas lag, so
 * a read that must see the caller's own write runs inside `onPrimary()`.
 *
 * Without replicas none of this is installed, and `onPrimary`/`replicaOrPrimary` are plain calls.
 */
const FILE = 'libs/database/src/replication.ts';
const primaryScope = new AsyncLocalStorage<true>();
const logger = new Logger('Database');

export function isReplicated(dataSource: DataSource): boolean {
  return (dataSource.driver as { isReplicated?: boolean } | undefined)?.isReplicated === true;
}

/**
 * Runs `read` with every SELECT it issues on the primary: repositories and query builders, in this
 * service or in any it calls (the scope follows the async calls). For read-your-own-write paths.
 */
export function onPrimary<T>(dataSource: DataSource, read: () => Promise<T>): Promise<T> {
  return isReplicated(dataSource) && !primaryScope.getStore() ? primaryScope.run(true, read) : read();
}

/**
 * A detail read by id on a replica, which may not have a just-created row yet: a miss is read
 * again on the primary before it becomes a 404.
 */
export async function replicaOrPrimary<T>(
  dataSource: DataSource,
  read: () => Promise<T | null | undefined>,
): Promise<T | null | undefined> {
  const found = await read();
  if (found !== null && found !== undefined) return found;
  return isReplicated(dataSource) && !primaryScope.getStore() ? primaryScope.run(true, read) : found;
}

interface Callback<C> {
  (err: Error | null, conn?: C): void;
}
interface ClusterPool {
  getConnection(cb: Callback<unknown>): void;
}
interface DriverState {
  poolCluster?: { _getNode?(id: string): { pool: ClusterPool } | null };
  prepareDbConnection(conn: unknown): unknown;
  obtainMasterConnection(): Promise<unknown>;
  replicasDown?: boolean;
}

/** The primary's mysql2 pool inside TypeORM's PoolCluster (node "MASTER"). */
export function primaryPoolOf(driver: unknown): ClusterPool | undefined {
  return (driver as DriverState).poolCluster?._getNode?.('MASTER')?.pool;
}

/**
 * The replicated driver's internals Echo uses: mysql2's PoolCluster `_getNode('MASTER').pool` and
 * `_nodes` (no public way to reach one node's pool). Checked at start-up by DatabaseModule on a replicated
 * data source; throws LibraryShapeError naming the version when it moved.
 */
export function assertReplicationShape(dataSource: DataSource): void {
  if (!isReplicated(dataSource)) return;
  const cluster = (dataSource.driver as unknown as DriverState).poolCluster;
  expectMethod('mysql2', cluster, '_getNode', 'PoolCluster', FILE);
  // pool-stats.ts lists the cluster's pools from here.
  expectField(
    'mysql2',
    cluster,
    '_nodes',
    'PoolCluster',
    'libs/database/src/pool-stats.ts',
    (v) => typeof v === 'object' && v !== null && 'MASTER' in v,
  );
  expectMethod(
    'mysql2',
    primaryPoolOf(dataSource.driver),
    'getConnection',
    "PoolCluster._getNode('MASTER').pool",
    FILE,
  );
}

let installed = false;

/**
 * TypeORM has no option to choose the replica per call nor to plug in its own driver, so these are
 * prototype patches; each method is checked before it is wrapped.
 *
 * Installed with the replication options (see buildDataSourceOptions):
 * 1. `onPrimary` scope: `DataSource.defaultReplicationModeForReads()` (what SelectQueryBuilder asks
 *    for when it opens its own query runner) answers 'master' inside the scope.
 * 2. The primary is taken straight from its pool, not through the PoolCluster: the cluster counts
 *    every failed getConnection (a full wait queue too) against the node and, after
 *    removeNodeErrorCount of them, takes it offline for restoreNodeTimeout — for the primary
 *    that would turn one burst of 503s into seconds of failed writes. Without replicas nothing changes.
 * 3. No replica reachable (down, refused, offline after an error, wait queue full): the read goes
 *    to the primary, with one warning per outage. The primary is never staler than a replica.
 */
export function installReplicaRouting(): void {
  if (installed) return;

  const dsProto = DataSource.prototype as unknown as {
    defaultReplicationModeForReads(this: DataSource): ReplicationMode;
  };
  expectMethod('typeorm', dsProto, 'defaultReplicationModeForReads', 'DataSource.prototype', FILE);
  const { MysqlDriver } = typeormInternal<{ MysqlDriver?: { prototype: Record<string, unknown> } }>(
    'driver/mysql/MysqlDriver.js',
    FILE,
  );
  if (!MysqlDriver)
    throw new LibraryShapeError('typeorm', 'typeorm/driver/mysql/MysqlDriver.js exports no MysqlDriver', FILE);
  for (const name of ['obtainMasterConnection', 'obtainSlaveConnection', 'prepareDbConnection']) {
    expectMethod('typeorm', MysqlDriver.prototype, name, 'MysqlDriver.prototype', FILE);
  }
  installed = true;

  const defaultMode = dsProto.defaultReplicationModeForReads;
  dsProto.defaultReplicationModeForReads = function () {
    return primaryScope.getStore() ? 'master' : defaultMode.call(this);
  };
  const proto = MysqlDriver.prototype as {
    obtainMasterConnection: (this: DriverState) => Promise<unknown>;
    obtainSlaveConnection: (this: DriverState) => Promise<unknown>;
  };
  const obtainMaster = proto.obtainMasterConnection;
  const obtainSlave = proto.obtainSlaveConnection;

  proto.obtainMasterConnection = function () {
    const pool = primaryPoolOf(this);
    if (!pool) return obtainMaster.call(this);
    return new Promise((resolve, reject) =>
      pool.getConnection((err, conn) => (err ? reject(err) : resolve(this.prepareDbConnection(conn)))),
    );
  };

  proto.obtainSlaveConnection = async function () {
    if (!this.poolCluster) return obtainSlave.call(this); // not replicated: TypeORM returns the primary
    let conn: unknown;
    try {
      conn = await obtainSlave.call(this);
    } catch (err) {
      if (!this.replicasDown) {
        this.replicasDown = true;
        const e = err as { code?: string; message?: string };
        logger.warn(`no read replica answers (${e.code ?? e.message}): reads go to the primary until one does`);
      }
      return this.obtainMasterConnection();
    }
    if (this.replicasDown) {
      this.replicasDown = false;
      logger.log('a read replica answers again: reads go to the replicas');
    }
    return conn;
  };
}
