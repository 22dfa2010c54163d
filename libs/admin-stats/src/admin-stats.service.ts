import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CacheService } from '@echo/cache';
import { withReadConnection } from '@echo/database';
import { QUEUES } from '@echo/queue';
import { VisualAnalysisService } from '@echo/visual-analysis';
import { AdminStatsRepository } from './admin-stats.repository.js';
import type { AdminStatsResponse, DayStats } from './admin-stats.response.js';

/** Short: an overview a few seconds old is fine, and it bounds the load of many open consoles. */
export const STATS_CACHE_TTL_MS = 15_000;
const DAY = 86_400_000;

@Injectable()
export class AdminStatsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly cache: CacheService,
    private readonly stats: AdminStatsRepository,
    private readonly analyses: VisualAnalysisService,
  ) {}

  /** Cached (single-flight) for STATS_CACHE_TTL_MS across every admin and process. */
  get(): Promise<AdminStatsResponse> {
    return this.cache.getOrSet('admin:stats', () => this.compute(), STATS_CACHE_TTL_MS);
  }

  async compute(now = new Date()): Promise<AdminStatsResponse> {
    const [raw, counts] = await Promise.all([
      withReadConnection(this.dataSource, (manager) => this.stats.read(manager, now)),
      this.analyses.queueCounts().catch(() => ({}) as Record<string, Record<string, number>>),
    ]);
    const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
    const daily: DayStats[] = [];
    for (let i = 29; i >= 0; i--) {
      const date = new Date(today - i * DAY).toISOString().slice(0, 10);
      const finished = raw.finishedPerDay.get(date);
      daily.push({
        date,
        uploads: raw.uploadsPerDay.get(date) ?? 0,
        analyses_completed: finished?.completed ?? 0,
        analyses_failed: finished?.failed ?? 0,
      });
    }
    const week = daily.slice(-7);
    const failed = week.reduce((n, d) => n + d.analyses_failed, 0);
    const finished = failed + week.reduce((n, d) => n + d.analyses_completed, 0);
    // Analyses only: the maintenance queue always holds its next repeatable run (delayed).
    const jobs = counts[QUEUES.analysis] ?? {};
    const depth = (jobs.waiting ?? 0) + (jobs.active ?? 0) + (jobs.delayed ?? 0) + (jobs.prioritized ?? 0);
    return {
      users: { total: raw.usersTotal, active: raw.usersActive, new_7d: raw.usersNew7d },
      uploads: { today: raw.uploadsToday, last_7d: raw.uploads7d, bytes_stored: raw.bytesStored },
      analyses: {
        by_status: raw.byStatus,
        failure_rate_7d: finished ? Math.round((failed / finished) * 10_000) / 10_000 : null,
      },
      queue: { depth, counts },
      daily,
      generated_at: now.toISOString(),
    };
  }
}
