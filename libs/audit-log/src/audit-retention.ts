import type { DataSource } from 'typeorm';
import { sqlReader, transactional } from '@echo/database';

/** How often the worker prunes (the retention is counted in days: a few runs a day is plenty). */
export const AUDIT_PRUNE_EVERY_MS = 6 * 3600 * 1000;

/**
 * Deletes entries older than the retention, oldest first, `batch` rows per statement (each its own
 * short transaction: no long lock over the table while admins act). Ids come from
 * ix_audit_created's range. Returns how many went.
 */
export async function pruneAuditLog(dataSource: DataSource, retentionMs: number, batch = 1000): Promise<number> {
  const db = sqlReader(dataSource.manager);
  const cutoff = db.param(new Date(Date.now() - retentionMs));
  let removed = 0;
  for (;;) {
    const rows = await db.query<{ id: string | number }>(
      'SELECT id FROM audit_log WHERE created_at < ? ORDER BY created_at, id LIMIT ?',
      [cutoff, batch],
    );
    if (!rows.length) return removed;
    const ids = rows.map((r) => r.id);
    // transactional(): on SQLite it waits its turn rather than joining a request's open transaction.
    await transactional(dataSource, (em) =>
      em.query(`DELETE FROM audit_log WHERE id IN (${ids.map(() => '?').join(', ')})`, ids),
    );
    removed += ids.length;
    if (rows.length < batch) return removed;
  }
}
