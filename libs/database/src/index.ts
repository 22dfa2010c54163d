export * from './data-source.options.js';
export * from './database.module.js';
export * from './database-errors.js';
export * from './pool-stats.js';
export { isConnectionLost, installReadRetry } from './connection-retry.js';
export { onPrimary, replicaOrPrimary, isReplicated, installReplicaRouting } from './replication.js';
export { dbQueriesSent } from './slow-query.logger.js';
export { withReadConnection } from './read-connection.js';
export { transactional, isTransientLockError, isUniqueViolation, isMysql } from './transaction.js';
