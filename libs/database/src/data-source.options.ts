import { chmodSync, closeSync, fchmodSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DataSourceOptions, MixedList, EntitySchema } from 'typeorm';
import type { AppConfig } from '@echo/config';
import { SlowQueryLogger } from './slow-query.logger.js';
import { migrations } from './migrations/index.js';
import { installReplicaRouting } from './replication.js';

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
type Entities = MixedList<Function | string | EntitySchema>;

/**
 * The one data source definition: the API, the worker and the CLI (migrations) all build their
 * connection from here. MySQL/MariaDB through mysql2 when DATABASE_URL is set, SQLite otherwise.
 */
export function buildDataSourceOptions(config: AppConfig, entities: Entities = []): DataSourceOptions {
  const common = {
    entities,
    migrations,
    migrationsTableName: 'migrations',
    synchronize: false,
    logger: new SlowQueryLogger(),
    maxQueryExecutionTime: config.database.slowQueryMs || undefined,
  } as const;

  if (!config.database.url) {
    if (config.database.sqlitePath !== ':memory:') {
      mkdirSync(dirname(config.database.sqlitePath), { recursive: true });
      ownerOnly(config.database.sqlitePath);
    }
    return {
      ...common,
      type: 'better-sqlite3',
      database: config.database.sqlitePath,
      // Embedded mode has no migration step of its own: apply them on start.
      migrationsRun: true,
      enableWAL: true,
      prepareDatabase: (db: { pragma(sql: string): unknown }) => {
        db.pragma('busy_timeout = 5000');
        db.pragma('foreign_keys = ON');
      },
    };
  }

  const pool = poolOptions(config);
  const replicas = config.database.replicaUrls;
  if (replicas.length) installReplicaRouting();
  return {
    ...common,
    type: 'mysql',
    charset: 'utf8mb4_unicode_ci',
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
    poolSize: config.database.poolSize,
    extra: pool,
    ...(replicas.length
      ? { replication: replicationOptions(config.database.url, replicas) }
      : { url: config.database.url }),
  };
}

/**
 * The embedded database holds password hashes and refresh-token digests: readable by its owner
 * only, like `jwt-secret` beside it. The file is created empty with mode 0600 before SQLite opens
 * it (SQLite makes its -wal/-shm/-journal files with the database's own mode), and chmod'ed to
 * 0600 whatever the umask, which also tightens files an older version left 0644.
 */
export function ownerOnly(path: string): void {
  const fd = openSync(path, 'a', 0o600);
  try {
    ignore(['EPERM'], () => fchmodSync(fd, 0o600)); // another user's file: theirs to fix
  } finally {
    closeSync(fd);
  }
  for (const companion of ['-wal', '-shm', '-journal'])
    ignore(['ENOENT', 'EPERM'], () => chmodSync(path + companion, 0o600));
}

function ignore(codes: string[], action: () => void): void {
  try {
    action();
  } catch (err) {
    if (!codes.includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  }
}

/**
 * Reads (SelectQueryBuilder, every repository find*) go to the replicas, writes and transactions to
 * the primary; see replication.ts for the read-your-own-write scope and the fallback to the primary.
 * Each server gets its own pool of DB_POOL_SIZE. A replica whose connection fails is left out for
 * restoreNodeTimeout after that first error (its reads go to the primary), then tried again.
 */
function replicationOptions(primaryUrl: string, replicaUrls: string[]) {
  return {
    master: { url: primaryUrl },
    slaves: replicaUrls.map((url) => ({ url })),
    canRetry: true,
    removeNodeErrorCount: 1,
    restoreNodeTimeout: 5000,
  };
}

/**
 * mysql2 pool settings. `extra` is spread last by TypeORM, so these win.
 * - Connections are kept alive across requests (the seed's CONN_MAX_AGE = 600 s): idle ones live
 *   DB_IDLE_TIMEOUT_MS, which DatabaseModule lowers below the server's wait_timeout at start.
 * - mysql2 only runs idle eviction when maxIdle < connectionLimit.
 * - The wait queue is bounded: overflow rejects with "Queue limit reached." → 503 (see errors).
 * - Echo sends text queries only (TypeORM's mysql driver never calls execute()), yet mysql2 gives
 *   every connection a prepared-statement LRU preallocated at its max: 16,000 slots ≈ 0.5 MB of
 *   heap per connection, 5 MB per API process at DB_POOL_SIZE=10. A small max keeps it a few KB.
 */
export function poolOptions(config: AppConfig) {
  const size = config.database.poolSize;
  return {
    connectionLimit: size,
    maxIdle: size > 1 ? size - 1 : 1,
    idleTimeout: config.database.idleTimeoutMs,
    queueLimit: config.database.queueLimit,
    waitForConnections: true,
    enableKeepAlive: true,
    keepAliveInitialDelay: 10_000,
    connectTimeout: 5_000,
    maxPreparedStatements: 16,
    // TypeORM's queries go through mysql2's promise API, which otherwise captures a stack trace
    // per query for its error messages (~3 % of an uncached page's CPU); TypeORM's
    // QueryFailedError carries the SQL and the caller's own stack.
    trace: false,
  };
}
