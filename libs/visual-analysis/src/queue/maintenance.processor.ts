import { Inject, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectQueue, Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job, Queue } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { QUEUES } from '@echo/queue';
import { ORPHAN_SWEEP_EVERY_MS, UploadsService } from '@echo/uploads';
import { VisualAnalysisService } from '../visual-analysis.service.js';

/**
 * Repeatable upkeep jobs, scheduled by every worker (upsert: one schedule however many run):
 * re-enqueue stranded analyses, and sweep upload temp objects.
 */
@Processor(QUEUES.maintenance)
export class MaintenanceProcessor extends WorkerHost implements OnApplicationBootstrap {
  constructor(
    @InjectQueue(QUEUES.maintenance) private readonly queue: Queue,
    private readonly analyses: VisualAnalysisService,
    private readonly uploads: UploadsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.queue.upsertJobScheduler(
      'reconcile-analyses',
      { every: this.config.queue.maintenanceEveryMs },
      { name: 'reconcile-analyses' },
    );
    await this.queue.upsertJobScheduler('sweep-uploads', { every: ORPHAN_SWEEP_EVERY_MS }, { name: 'sweep-uploads' });
  }

  async process(job: Job): Promise<unknown> {
    switch (job.name) {
      case 'reconcile-analyses':
        return { requeued: await this.analyses.reconcile(this.config.queue.stuckAfterMs) };
      case 'sweep-uploads':
        return this.uploads.sweepOrphans();
      default:
        return undefined;
    }
  }
}
