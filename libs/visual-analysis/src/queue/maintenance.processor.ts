import { Inject, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { InjectQueue, OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job, Queue } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { QUEUES, queueErrorListener } from '@echo/queue';
import { ORPHAN_SWEEP_EVERY_MS, UploadsService } from '@echo/uploads';
import { VisualAnalysisService } from '../visual-analysis.service.js';

/**
 * Repeatable upkeep jobs, scheduled by every worker (upsert: one schedule however many run):
 * re-enqueue stranded analyses, and sweep upload temp objects and orphan thumbnails.
 *
 * The schedules live in Redis, so a FLUSHALL or a failover to an empty replica removes them with
 * the jobs the reconciler exists to recover. Each worker therefore checks every
 * MAINTENANCE_EVERY_SECONDS and puts back any that is missing; scheduler ids make that
 * idempotent, so several workers never duplicate a schedule.
 */
@Processor(QUEUES.maintenance)
export class MaintenanceProcessor extends WorkerHost implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('MaintenanceProcessor');
  private timer?: NodeJS.Timeout;
  private checking = false;

  constructor(
    @InjectQueue(QUEUES.maintenance) private readonly queue: Queue,
    private readonly analyses: VisualAnalysisService,
    private readonly uploads: UploadsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  private get schedules(): { id: string; every: number }[] {
    return [
      { id: 'reconcile-analyses', every: this.config.queue.maintenanceEveryMs },
      { id: 'sweep-uploads', every: ORPHAN_SWEEP_EVERY_MS },
    ];
  }

  private readonly onRedisError = queueErrorListener('worker maintenance');

  /** Redis errors of the worker (a failover): logged, not printed by BullMQ with a stack each. */
  @OnWorkerEvent('error')
  onError(err: Error): void {
    this.onRedisError(err);
  }

  async onApplicationBootstrap(): Promise<void> {
    for (const { id, every } of this.schedules) await this.queue.upsertJobScheduler(id, { every }, { name: id });
    this.timer = setInterval(() => void this.restoreMissing(), this.config.queue.maintenanceEveryMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /**
   * One cheap read per schedule; an upsert only for a missing one (an upsert of a present one
   * would remove and re-add its next job each time). While Redis is away the worker's commands
   * wait for it (maxRetriesPerRequest: null): `checking` keeps those from piling up.
   */
  private async restoreMissing(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      for (const { id, every } of this.schedules) {
        if (await this.queue.getJobScheduler(id)) continue;
        await this.queue.upsertJobScheduler(id, { every }, { name: id });
        this.logger.warn(`job scheduler ${id} was missing from Redis (flushed or failed over): re-registered`);
      }
    } catch (err) {
      this.logger.warn(`job scheduler check failed: ${(err as Error).message}`);
    } finally {
      this.checking = false;
    }
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
