import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { VisualAnalysisService } from '../visual-analysis.service.js';

/**
 * Embedded mode's reconciler: at start every queued/processing row is orphaned (jobs lived in
 * the previous process's memory), so all are re-run; later, stuck ones on a timer.
 */
@Injectable()
export class EmbeddedMaintenance implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('EmbeddedMaintenance');
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly analyses: VisualAnalysisService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    void this.run(0);
    this.timer = setInterval(() => void this.run(this.config.queue.stuckAfterMs), this.config.queue.maintenanceEveryMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  private async run(stuckAfterMs: number): Promise<void> {
    try {
      await this.analyses.reconcile(stuckAfterMs);
    } catch (err) {
      this.logger.warn(`reconcile failed: ${(err as Error).message}`);
    }
  }
}
