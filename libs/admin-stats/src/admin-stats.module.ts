import { Module } from '@nestjs/common';
import { AdminStatsController } from './admin-stats.controller.js';
import { AdminStatsService } from './admin-stats.service.js';
import { AdminStatsRepository } from './admin-stats.repository.js';

/** GET /api/admin/stats (API only). Relies on the global database, cache and VisualAnalysisService (global modules). */
@Module({ controllers: [AdminStatsController], providers: [AdminStatsService, AdminStatsRepository] })
export class AdminStatsModule {}
