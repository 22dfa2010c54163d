export * from './data-source.options.js';
export * from './database.module.js';
export * from './database-errors.js';
export * from './pool-stats.js';
export { boundPoolWait, poolWaitTimedOutWithin, PoolWaitTimeoutError } from './pool-wait.js';
export { isConnectionLost, installReadRetry, assertReadRetryShape } from './connection-retry.js';
export { LibraryShapeError } from './library-shape.js';
export {
  onPrimary,
  replicaOrPrimary,
  isReplicated,
  installReplicaRouting,
  assertReplicationShape,
} from './replication.js';
export { dbQueriesSent } from './slow-query.logger.js';
export { withReadConnection } from './read-connection.js';
export { transactional, isTransientLockError, isUniqueViolation, isMysql } from './transaction.js';
export { checkConnectionBudget, connectionBudget, type ConnectionBudget } from './connection-budget.js';
export { sqlReader } from './sql-reader.js';
