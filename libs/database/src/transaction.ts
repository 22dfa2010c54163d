import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueryFailedError, type DataSource, type EntityManager } from 'typeorm';

/** MySQL/MariaDB: deadlock victim (1213) and lock wait timeout (1205); SQLite: database busy. */
const RETRYABLE = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'SQLITE_BUSY']);

export function isTransientLockError(err: unknown): boolean {
  const code =
    (err as { driverError?: { code?: string }; code?: string })?.driverError?.code ?? (err as { code?: string })?.code;
  return code !== undefined && RETRYABLE.has(code);
}

export function isUniqueViolation(err: unknown): boolean {
  if (!(err instanceof QueryFailedError)) return false;
  const driver = err.driverError as { code?: string; message?: string };
  return driver?.code === 'ER_DUP_ENTRY' || /UNIQUE constraint failed/i.test(driver?.message ?? '');
}

/** MySQL/MariaDB (row locks, FOR UPDATE) rather than SQLite (one writer at a time). */
export function isMysql(dataSource: DataSource): boolean {
  return dataSource.options.type === 'mysql';
}

/**
 * The one way Echo runs a transactional write. InnoDB resolves a deadlock by rolling back one
 * transaction, which is then safe to run again from the start: the whole callback is retried
 * (a bounded number of times, with a short jittered pause) when it fails with a deadlock or a
 * lock wait timeout. The callback must therefore do nothing outside the transaction that cannot
 * be repeated (no file moves, no queue adds: do those after it commits).
 *
 * On SQLite the transactions of one process run one after another (see `oneAtATime`).
 */
export async function transactional<T>(
  dataSource: DataSource,
  work: (manager: EntityManager) => Promise<T>,
  attempts = 4,
): Promise<T> {
  const run = async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await dataSource.transaction(work);
      } catch (err) {
        if (attempt >= attempts || !isTransientLockError(err)) throw err;
        await sleep(5 * attempt + Math.random() * 20);
      }
    }
  };
  return isMysql(dataSource) ? run() : oneAtATime(dataSource, run);
}

const sqliteTail = new WeakMap<DataSource, Promise<unknown>>();
/** The transaction whose async context this is, while it runs (`active` turns false as it ends). */
const inSqliteTransaction = new AsyncLocalStorage<{ dataSource: DataSource; active: boolean }>();

/**
 * TypeORM's better-sqlite3 driver has ONE query runner for the whole DataSource: a second
 * `dataSource.transaction()` started while another awaits becomes a SAVEPOINT inside the first,
 * so the two see each other's uncommitted rows (a read-then-insert races) and a rollback of one
 * undoes the other's writes. Transactions are therefore queued per DataSource; one started inside
 * another (same async context, while that one still runs) joins it rather than waiting for itself.
 * Work the transaction started without awaiting it (a timer, a shared load) inherits the context
 * but not the transaction: once it has ended, that work queues like any other.
 */
async function oneAtATime<T>(dataSource: DataSource, run: () => Promise<T>): Promise<T> {
  const current = inSqliteTransaction.getStore();
  if (current?.dataSource === dataSource && current.active) return run();
  const previous = sqliteTail.get(dataSource) ?? Promise.resolve();
  const mine = previous.then(() => {
    const store = { dataSource, active: true };
    return inSqliteTransaction.run(store, () => run().finally(() => (store.active = false)));
  });
  sqliteTail.set(
    dataSource,
    mine.catch(() => undefined),
  );
  return mine;
}
