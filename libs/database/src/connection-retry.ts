import type { DataSource } from 'typeorm';
import { expectField, expectMethod, typeormInternal } from './library-shape.js';

/**
 * mysql2 does not ping a pooled connection before handing it out, so one the server closed
 * (wait_timeout, KILL, restart) fails the next query with PROTOCOL_CONNECTION_LOST/ECONNRESET
 * (node-mysql2#683, #836: the maintainers leave it to the application). Echo retries a read
 * once on a fresh connection; writes and transactions are never retried, because the server
 * may have applied them.
 */
const LOST = new Set([
  'PROTOCOL_CONNECTION_LOST',
  'ECONNRESET',
  'EPIPE',
  'ER_CONNECTION_KILLED',
  'PROTOCOL_SEQUENCE_TIMEOUT',
]);
const READ = /^\s*(\(?\s*SELECT|SHOW|EXPLAIN|WITH)\b/i;

export function isConnectionLost(err: unknown): boolean {
  const e = err as { code?: string; errno?: number; driverError?: { code?: string; errno?: number; fatal?: boolean } };
  const code = e?.driverError?.code ?? e?.code;
  const errno = e?.driverError?.errno ?? e?.errno;
  // 1927 = ER_CONNECTION_KILLED (MariaDB), 4031 = client disconnected by server (MySQL 8)
  return (code !== undefined && LOST.has(code)) || errno === 1927 || errno === 4031 || e?.driverError?.fatal === true;
}

const FILE = 'libs/database/src/connection-retry.ts';
let installed = false;

/**
 * TypeORM has no hook around a query runner's query() and builds its MysqlQueryRunner itself (no
 * subclass can be plugged in), so the retry wraps the prototype method. The method is checked here;
 * the runner fields it resets are checked on a live runner by assertReadRetryShape at start-up.
 */
export function installReadRetry(): void {
  if (installed) return;
  const { MysqlQueryRunner } = typeormInternal<{ MysqlQueryRunner?: { prototype: object } }>(
    'driver/mysql/MysqlQueryRunner.js',
    FILE,
  );
  expectMethod('typeorm', MysqlQueryRunner?.prototype, 'query', 'MysqlQueryRunner.prototype', FILE);
  installed = true;
  const proto = MysqlQueryRunner!.prototype as {
    query: (this: RunnerState, query: string, parameters?: unknown[], structured?: boolean) => Promise<unknown>;
  };
  const original = proto.query;
  proto.query = async function (this: RunnerState, query, parameters, structured) {
    try {
      return await original.call(this, query, parameters, structured);
    } catch (err) {
      if (!isConnectionLost(err) || this.isTransactionActive || !READ.test(query)) throw err;
      // Drop the dead connection from the pool and run the read once more on a new one.
      this.databaseConnection?.destroy();
      this.databaseConnection = undefined;
      this.databaseConnectionPromise = undefined;
      return original.call(this, query, parameters, structured);
    }
  };
}

/**
 * The runner state the retry resets, checked on a live MySQL runner (DatabaseModule runs it at
 * start-up): `isTransactionActive`, and after connect() `databaseConnection` (with destroy()) and
 * `databaseConnectionPromise`. Throws LibraryShapeError naming typeorm's version when one moved.
 */
export async function assertReadRetryShape(dataSource: DataSource): Promise<void> {
  const runner = dataSource.createQueryRunner();
  try {
    expectField('typeorm', runner, 'isTransactionActive', 'MysqlQueryRunner', FILE, (v) => typeof v === 'boolean');
    const conn = await runner.connect();
    const state = runner as unknown as RunnerState;
    expectField('typeorm', state, 'databaseConnection', 'MysqlQueryRunner', FILE, (v) => v === conn);
    expectMethod('typeorm', state.databaseConnection, 'destroy', 'MysqlQueryRunner.databaseConnection', FILE);
    expectField('typeorm', state, 'databaseConnectionPromise', 'MysqlQueryRunner', FILE, (v) => v instanceof Promise);
  } finally {
    await runner.release();
  }
}

interface RunnerState {
  isTransactionActive: boolean;
  databaseConnection?: { destroy(): void };
  databaseConnectionPromise?: Promise<unknown>;
}
