import type { DataSource, EntityManager } from 'typeorm';

/**
 * Runs a read of several queries (a listing: count, page, related rows) on one pooled connection,
 * taken once. A query without a runner takes its own connection each time, so under a burst a
 * request with N queries goes through the pool's FIFO wait queue N times, behind every newer
 * request on each pass (what that cost: docs/design.md, Connections). One acquisition per request makes
 * it one pass. Reads go where TypeORM sends reads (a replica, or the primary inside `onPrimary`).
 */
export async function withReadConnection<T>(
  dataSource: DataSource,
  read: (manager: EntityManager) => Promise<T>,
): Promise<T> {
  const runner = dataSource.createQueryRunner(dataSource.defaultReplicationModeForReads());
  try {
    return await read(runner.manager);
  } finally {
    await runner.release();
  }
}
