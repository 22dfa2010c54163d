import { DataSource } from 'typeorm';
import { AUDIT_PRUNE_EVERY_MS, pruneAuditLog } from '@echo/audit-log';
import { Inject, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { InjectQueue, OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job, Queue } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { QUEUES, queueErrorListener } from '@echo/queue';
import { ORPHAN_SWEEP_EVERY_MS, UploadsService } from '@echo/uploads';
import { VisualAnalysisService } from '../visual-analysis.service.js';

/** States in which a schedule's next iteration job will still run. */
const LIVE = new Set(['delayed', 'waiting', 'prioritized', 'active', 'paused']);

/**
 * Repeatable upkeep jobs, scheduled by every worker (upsert: one schedule however many run):
 * re-enqueue stranded analyses, and sweep upload temp objects and orphan thumbnails.
 *
 * The schedules live in Redis, so a FLUSHALL or a failover to an empty replica removes them with
 * the jobs the reconciler exists to recover. A failover can also keep a schedule but not its next
 * iteration: the replica may not have received the last job BullMQ added, and BullMQ itself adds
 * the next iteration when it takes the current one, and when that add fails (CLUSTERDOWN during
 * a Cluster failover) it drops the iteration, leaving it `active` without a lock and the schedule
 * without a next job. Each worker therefore checks every MAINTENANCE_EVERY_SECONDS that every
 * schedule has a live next job and upserts any that has not; scheduler ids make that idempotent,
 * so several workers never duplicate a schedule. The lock and stall check follow
 * QUEUE_LOCK_DURATION_MS (not BullMQ's 30 s defaults), so a dropped iteration is taken again soon.
 *
 * A class per config, because @nestjs/bullmq reads worker options from the decorator.
 */
export function maintenanceProcessor(config: AppConfig) {
  @Processor(QUEUES.maintenance, {
    lockDuration: config.queue.lockDurationMs,
    stalledInterval: config.queue.lockDurationMs,
  })
  class MaintenanceProcessor extends WorkerHost implements OnApplicationBootstrap, OnApplicationShutdown {
    private readonly logger = new Logger('MaintenanceProcessor');
    private timer?: NodeJS.Timeout;
    private checking = false;

    constructor(
      @InjectQueue(QUEUES.maintenance) private readonly queue: Queue,
      private readonly analyses: VisualAnalysisService,
      private readonly uploads: UploadsService,
      @Inject(APP_CONFIG) private readonly config: AppConfig,
      private readonly dataSource: DataSource,
    ) {
      super();
    }

    private get schedules(): { id: string; every: number }[] {
      return [
        { id: 'reconcile-analyses', every: this.config.queue.maintenanceEveryMs },
        { id: 'sweep-uploads', every: ORPHAN_SWEEP_EVERY_MS },
        { id: 'prune-audit-log', every: AUDIT_PRUNE_EVERY_MS },
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
     * A few cheap reads per schedule; an upsert only for a broken one (an upsert of a healthy one
     * would remove and re-add its next job each time). While Redis is away the worker's commands
     * wait for it (maxRetriesPerRequest: null): `checking` keeps those from piling up.
     */
    private async restoreMissing(): Promise<void> {
      if (this.checking) return;
      this.checking = true;
      try {
        for (const { id, every } of this.schedules) {
          const problem = await this.scheduleProblem(id);
          if (!problem) continue;
          await this.queue.upsertJobScheduler(id, { every }, { name: id });
          this.logger.warn(`job scheduler ${id} ${problem} (Redis flushed or failed over): re-registered`);
        }
      } catch (err) {
        this.logger.warn(`job scheduler check failed: ${(err as Error).message}`);
      } finally {
        this.checking = false;
      }
    }

    /** Why a schedule would not run again, or undefined if its next iteration is there. */
    private async scheduleProblem(id: string): Promise<string | undefined> {
      const scheduler = await this.queue.getJobScheduler(id);
      if (!scheduler) return 'was missing';
      // BullMQ names a schedule's iteration `repeat:<scheduler id>:<its time>`.
      const next = scheduler.next ? await this.queue.getJob(`repeat:${id}:${scheduler.next}`) : undefined;
      const state = next ? await next.getState() : 'missing';
      return LIVE.has(state) ? undefined : `had no next iteration (${state})`;
    }

    async process(job: Job): Promise<unknown> {
      switch (job.name) {
        case 'reconcile-analyses':
          return { requeued: await this.analyses.reconcile(this.config.queue.stuckAfterMs) };
        case 'sweep-uploads':
          return this.uploads.sweepOrphans();
        case 'prune-audit-log':
          return { removed: await pruneAuditLog(this.dataSource, this.config.audit.retentionMs) };
        default:
          return undefined;
      }
    }
  }
  return MaintenanceProcessor;
}
