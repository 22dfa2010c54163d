import { DataSource } from 'typeorm';
import { AUDIT_PRUNE_EVERY_MS, pruneAuditLog } from '@echo/audit-log';
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { VisualAnalysisService } from '../visual-analysis.service.js';

/**
 * Embedded mode's reconciler: at start every queued/processing row is orphaned (jobs lived in
 * the previous process's memory), so all are re-run; later, stuck ones every
 * MAINTENANCE_EVERY_SECONDS (a configured period, so registered with the scheduler at start-up
 * rather than by decorator; the scheduler clears it on shutdown).
 */
@Injectable()
export class EmbeddedMaintenance implements OnApplicationBootstrap {
  private readonly logger = new Logger('EmbeddedMaintenance');

  constructor(
    private readonly analyses: VisualAnalysisService,
    private readonly scheduler: SchedulerRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly dataSource: DataSource,
  ) {}

  onApplicationBootstrap(): void {
    void this.run(0);
    const timer = setInterval(
      () => void this.run(this.config.queue.stuckAfterMs),
      this.config.queue.maintenanceEveryMs,
    );
    this.scheduler.addInterval('reconcile-analyses', timer);
    // The audit log's retention (the worker's 'prune-audit-log' schedule when there is a worker).
    const prune = setInterval(() => void this.prune(), AUDIT_PRUNE_EVERY_MS);
    this.scheduler.addInterval('prune-audit-log', prune);
    void this.prune();
  }

  private async prune(): Promise<void> {
    try {
      await pruneAuditLog(this.dataSource, this.config.audit.retentionMs);
    } catch (err) {
      this.logger.warn(`audit log prune failed: ${(err as Error).message}`);
    }
  }

  private async run(stuckAfterMs: number): Promise<void> {
    try {
      await this.analyses.reconcile(stuckAfterMs);
    } catch (err) {
      this.logger.warn(`reconcile failed: ${(err as Error).message}`);
    }
  }
}
