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
  ) {}

  onApplicationBootstrap(): void {
    void this.run(0);
    const timer = setInterval(
      () => void this.run(this.config.queue.stuckAfterMs),
      this.config.queue.maintenanceEveryMs,
    );
    this.scheduler.addInterval('reconcile-analyses', timer);
  }

  private async run(stuckAfterMs: number): Promise<void> {
    try {
      await this.analyses.reconcile(stuckAfterMs);
    } catch (err) {
      this.logger.warn(`reconcile failed: ${(err as Error).message}`);
    }
  }
}
