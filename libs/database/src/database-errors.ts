/**
 * Errors that mean "the database cannot take this request right now" (pool wait queue full, no
 * connection free within DB_POOL_WAIT_TIMEOUT_MS, server refusing or dropping connections): answered 503 with Retry-After, not 500.
 */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ETIMEDOUT',
  'PROTOCOL_CONNECTION_LOST',
  'ECONNRESET',
  'ER_CON_COUNT_ERROR',
  'ER_CONNECTION_KILLED',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_SERVER_SHUTDOWN',
  'SQLITE_BUSY',
  // mysql2 PoolCluster (replicas): every node of the pattern offline.
  'POOL_NONEONLINE',
  'POOL_NOEXIST',
  // No pool connection within DB_POOL_WAIT_TIMEOUT_MS (pool-wait.ts).
  'POOL_WAIT_TIMEOUT',
]);

export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { message?: string; code?: string; driverError?: { code?: string; message?: string } };
  if (!e || typeof e !== 'object') return false;
  const message = e.driverError?.message ?? e.message;
  if (message === 'Queue limit reached.' || message === 'Pool is closed.') return true;
  const code = e.driverError?.code ?? e.code;
  return code !== undefined && UNAVAILABLE_CODES.has(code);
}
