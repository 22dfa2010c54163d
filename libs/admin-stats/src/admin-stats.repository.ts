import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/**
 * The overview's SQL, each query on an index (see test/admin-stats.test.ts, which EXPLAINs them):
 * counts are ranges on (created_at), (date_joined), (is_active, …), (status, …); the only
 * whole-table aggregate, bytes stored, reads the narrow (size) index, never the rows.
 * Written to run on MySQL/MariaDB and SQLite alike (DATE() and CAST … AS CHAR exist in both).
 */
export const STATS_SQL = {
  usersTotal: 'SELECT COUNT(*) AS n FROM users',
  usersActive: 'SELECT COUNT(*) AS n FROM users WHERE is_active = ?',
  usersSince: 'SELECT COUNT(*) AS n FROM users WHERE date_joined >= ?',
  uploadsSince: 'SELECT COUNT(*) AS n FROM uploads WHERE created_at >= ?',
  bytesStored: 'SELECT COALESCE(SUM(size), 0) AS n FROM uploads',
  uploadsPerDay:
    'SELECT CAST(DATE(created_at) AS CHAR) AS d, COUNT(*) AS n FROM uploads WHERE created_at >= ? GROUP BY CAST(DATE(created_at) AS CHAR)',
  analysesByStatus:
    "SELECT status, COUNT(*) AS n FROM visual_analysis_results WHERE status IN ('queued', 'processing', 'completed', 'failed') GROUP BY status",
  finishedPerDay:
    "SELECT status, CAST(DATE(completed_at) AS CHAR) AS d, COUNT(*) AS n FROM visual_analysis_results WHERE status IN ('completed', 'failed') AND completed_at >= ? GROUP BY status, CAST(DATE(completed_at) AS CHAR)",
} as const;

export interface RawStats {
  usersTotal: number;
  usersActive: number;
  usersNew7d: number;
  uploadsToday: number;
  uploads7d: number;
  bytesStored: number;
  uploadsPerDay: Map<string, number>;
  byStatus: Record<string, number>;
  finishedPerDay: Map<string, { completed: number; failed: number }>;
}

/**
 * The overview's reads: a read model across users, uploads and analyses, so its SQL has its own
 * home rather than a method on each aggregate's repository.
 */
@Injectable()
export class AdminStatsRepository {
  /** Runs every stats query on one connection (the caller's manager). */
  read(manager: EntityManager, now: Date): Promise<RawStats> {
    return readStats(manager, now);
  }
}

async function readStats(manager: EntityManager, now: Date): Promise<RawStats> {
  const day = 86_400_000;
  const today = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const weekAgo = new Date(now.getTime() - 7 * day);
  const monthStart = new Date(today.getTime() - 29 * day);
  // Datetimes are stored in UTC on both drivers; SQLite cannot bind a Date, so pass the text form.
  const at = (d: Date) => d.toISOString().replace('T', ' ').replace('Z', '');
  const one = async (sql: string, params: unknown[] = []) =>
    Number(((await manager.query(sql, params)) as { n: number | string }[])[0]?.n ?? 0);

  const usersTotal = await one(STATS_SQL.usersTotal);
  const usersActive = await one(STATS_SQL.usersActive, [1]);
  const usersNew7d = await one(STATS_SQL.usersSince, [at(weekAgo)]);
  const uploadsToday = await one(STATS_SQL.uploadsSince, [at(today)]);
  const uploads7d = await one(STATS_SQL.uploadsSince, [at(weekAgo)]);
  const bytesStored = await one(STATS_SQL.bytesStored);

  const uploadsPerDay = new Map<string, number>();
  for (const row of (await manager.query(STATS_SQL.uploadsPerDay, [at(monthStart)])) as {
    d: string;
    n: number | string;
  }[]) {
    uploadsPerDay.set(String(row.d), Number(row.n));
  }
  const byStatus: Record<string, number> = { queued: 0, processing: 0, completed: 0, failed: 0 };
  for (const row of (await manager.query(STATS_SQL.analysesByStatus)) as { status: string; n: number | string }[])
    byStatus[row.status] = Number(row.n);
  const finishedPerDay = new Map<string, { completed: number; failed: number }>();
  for (const row of (await manager.query(STATS_SQL.finishedPerDay, [at(monthStart)])) as {
    status: 'completed' | 'failed';
    d: string;
    n: number | string;
  }[]) {
    const entry = finishedPerDay.get(String(row.d)) ?? { completed: 0, failed: 0 };
    entry[row.status] = Number(row.n);
    finishedPerDay.set(String(row.d), entry);
  }
  return {
    usersTotal,
    usersActive,
    usersNew7d,
    uploadsToday,
    uploads7d,
    bytesStored,
    uploadsPerDay,
    byStatus,
    finishedPerDay,
  };
}
