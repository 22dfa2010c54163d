import { Module } from '@nestjs/common';
import { AdminStatsController } from './admin-stats.controller.js';
import { AdminStatsService } from './admin-stats.service.js';

/** GET /api/admin/stats (API only). Relies on the global database, cache and VisualAnalysisService. */
@Module({ controllers: [AdminStatsController], providers: [AdminStatsService] })
export class AdminStatsModule {}
