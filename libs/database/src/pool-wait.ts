import type { DataSource } from 'typeorm';
import { expectMethod } from './library-shape.js';
import { mysqlPool, mysqlPools } from './pool-stats.js';

const FILE = 'libs/database/src/pool-wait.ts';
const BOUNDED = Symbol('echo.boundedPoolWait');
const LAST_TIMEOUT = Symbol('echo.lastPoolWaitTimeout');

/** A request waited DB_POOL_WAIT_TIMEOUT_MS for a pool connection and got none: answered 503. */
export class PoolWaitTimeoutError extends Error {
  readonly code = 'POOL_WAIT_TIMEOUT';
  constructor(readonly timeoutMs: number) {
    super(`No database connection free within ${timeoutMs} ms.`);
    this.name = 'PoolWaitTimeoutError';
  }
}

interface PoolConnectionLike {
  release(): void;
}

type Waiter = ((err: Error | null, connection?: PoolConnectionLike) => void) & { [BOUNDED]?: true };
interface WaitQueue {
  length: number;
  get(index: number): unknown;
  peekBack(): unknown;
  removeOne(index: number): unknown;
}
interface WaitablePool {
  getConnection: ((cb: Waiter) => void) & { [BOUNDED]?: true };
  _connectionQueue: WaitQueue;
  [LAST_TIMEOUT]?: number;
}

/**
 * mysql2's pool has no acquire timeout (its `acquireTimeout` is ignored, node-mysql2#673; TypeORM
 * passes none; `connectTimeout` only bounds opening a connection): a request queued behind a slow
 * database waits until a connection frees, however long that is, holding its memory meanwhile.
 * This bounds the wait. A waiter still queued after `timeoutMs` is taken out of the queue and fails
 * with PoolWaitTimeoutError (→ 503 + Retry-After); if the pool hands it a connection anyway (a race
 * with the timer), the connection goes straight back. Waits that need no queueing cost nothing.
 * Installed on every pool of the data source (primary and replicas) by DatabaseModule; the API
 * also refuses new requests at its front door for a moment after a wait timed out
 * (poolWaitTimedOutWithin, create-api-app.ts).
 */
export function boundPoolWait(dataSource: DataSource, timeoutMs: number): void {
  if (!timeoutMs) return;
  for (const { node, pool } of mysqlPools(dataSource)) {
    const target = pool as unknown as WaitablePool;
    assertWaitShape(target, node);
    if (target.getConnection[BOUNDED]) continue;
    const original = target.getConnection;
    const bounded = function (this: WaitablePool, cb: Waiter): void {
      // A waiter the pool re-dispatches itself (after a broken connection) is already bounded.
      if (cb[BOUNDED]) return original.call(this, cb);
      let done = false;
      let timer: NodeJS.Timeout | undefined = undefined;
      const waiter: Waiter = (err, connection) => {
        if (done) {
          connection?.release();
          return;
        }
        done = true;
        if (timer) clearTimeout(timer);
        cb(err, connection);
      };
      waiter[BOUNDED] = true;
      original.call(this, waiter);
      if (done) return; // answered at once (a full queue)
      const queue = this._connectionQueue;
      if (queue.peekBack() !== waiter) return; // a free or new connection: not queued
      timer = setTimeout(() => {
        if (done) return;
        done = true;
        removeWaiter(this._connectionQueue, waiter);
        this[LAST_TIMEOUT] = performance.now();
        cb(new PoolWaitTimeoutError(timeoutMs));
      }, timeoutMs);
    } as WaitablePool['getConnection'];
    bounded[BOUNDED] = true;
    target.getConnection = bounded;
  }
}

/**
 * Whether a request gave up waiting for a connection of the primary's pool within the last `ms`:
 * the database is behind the offered load (a wait of DB_POOL_WAIT_TIMEOUT_MS never happens while
 * it keeps up). False when the wait is not bounded.
 */
export function poolWaitTimedOutWithin(dataSource: DataSource, ms: number, now = performance.now()): boolean {
  const last = (mysqlPool(dataSource) as unknown as WaitablePool | undefined)?.[LAST_TIMEOUT];
  return last !== undefined && now - last < ms;
}

/** Timed-out waiters are the oldest, so the scan from the head is short. */
function removeWaiter(queue: WaitQueue, waiter: Waiter): void {
  for (let i = 0; i < queue.length; i++) {
    if (queue.get(i) === waiter) {
      queue.removeOne(i);
      return;
    }
  }
}

function assertWaitShape(pool: WaitablePool, node: string): void {
  const owner = `Pool (${node})`;
  expectMethod('mysql2', pool, 'getConnection', owner, FILE);
  for (const method of ['get', 'peekBack', 'removeOne'])
    expectMethod('mysql2', pool._connectionQueue, method, `${owner}._connectionQueue`, FILE);
}
