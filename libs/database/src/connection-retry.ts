import { createRequire } from 'node:module';

/**
 * mysql2 does not ping a pooled connection before handing it out, so one the server closed
 * (wait_timeout, KILL, restart) fails the next query with PROTOCOL_CONNECTION_LOST/ECONNRESET
 * (node-mysql2#683, #836: the maintainers leave it to the application). Echo retries a read
 * once on a fresh connection; writes and transactions are never retried, because the server
 * may have applied them.
 */
const LOST = new Set(['PROTOCOL_CONNECTION_LOST', 'ECONNRESET', 'EPIPE', 'ER_CONNECTION_KILLED', 'PROTOCOL_SEQUENCE_TIMEOUT']);
const READ = /^\s*(\(?\s*SELECT|SHOW|EXPLAIN|WITH)\b/i;

export function isConnectionLost(err: unknown): boolean {
  const e = err as { code?: string; errno?: number; driverError?: { code?: string; errno?: number; fatal?: boolean } };
  const code = e?.driverError?.code ?? e?.code;
  const errno = e?.driverError?.errno ?? e?.errno;
  // 1927 = ER_CONNECTION_KILLED (MariaDB), 4031 = client disconnected by server (MySQL 8)
  return (code !== undefined && LOST.has(code)) || errno === 1927 || errno === 4031 || e?.driverError?.fatal === true;
}

let installed = false;

export function installReadRetry(): void {
  if (installed) return;
  installed = true;
  const require = createRequire(import.meta.url);
  const { MysqlQueryRunner } = require('typeorm/driver/mysql/MysqlQueryRunner.js') as {
    MysqlQueryRunner: { prototype: Record<string, unknown> };
  };
  const proto = MysqlQueryRunner.prototype as {
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

interface RunnerState {
  isTransactionActive: boolean;
  databaseConnection?: { destroy(): void };
  databaseConnectionPromise?: Promise<unknown>;
}
