import { Inject, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { InjectQueue, OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job, Queue, Worker } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { QUEUES, queueErrorListener } from '@echo/queue';
import { StorageAuditReport } from '../storage-audit/storage-audit-report.js';
import { AccountPurge } from './account-purge.js';
import { PURGE_JOB } from './bullmq-purge-queue.js';

export const AUDIT_JOB = 'audit-storage';

/**
 * The worker's consumer of `account-purge`: purges (one at a time: each is mostly storage round
 * trips, and a user's purge should not compete with another's) and the scheduled storage audit
 * report. A worker killed mid-purge leaves the job stalled; once its lock lapses
 * (QUEUE_LOCK_DURATION_MS) another worker, or this one restarted, runs it again, and the purge
 * carries on from what is left. The audit's schedule is upserted at start and re-upserted when a
 * Redis flush lost it (checked with the due purges, every MAINTENANCE_EVERY_SECONDS).
 * A class per config, because @nestjs/bullmq reads worker options from the decorator.
 */
export function accountPurgeProcessor(config: AppConfig) {
  @Processor(QUEUES.accountPurge, {
    concurrency: 1,
    lockDuration: config.queue.lockDurationMs,
    stalledInterval: config.queue.lockDurationMs,
    // Resumable: a purge a crash interrupted is run again however often that happened.
    maxStalledCount: 10,
  })
  class AccountPurgeProcessor extends WorkerHost implements OnApplicationBootstrap, OnApplicationShutdown {
    private readonly logger = new Logger('AccountPurge');
    private timer?: NodeJS.Timeout;

    constructor(
      @InjectQueue(QUEUES.accountPurge) private readonly queue: Queue,
      private readonly purge: AccountPurge,
      private readonly audit: StorageAuditReport,
      @Inject(APP_CONFIG) private readonly config: AppConfig,
    ) {
      super();
    }

    private readonly onRedisError = queueErrorListener('worker account-purge');

    @OnWorkerEvent('error')
    onError(err: Error): void {
      this.onRedisError(err);
    }

    async onApplicationBootstrap(): Promise<void> {
      await this.ensureAuditSchedule();
      this.timer = setInterval(
        () =>
          void this.ensureAuditSchedule().catch((err: Error) =>
            this.logger.warn(`audit schedule check failed: ${err.message}`),
          ),
        this.config.queue.maintenanceEveryMs,
      );
      this.timer.unref();
    }

    /** Lets a running purge finish before the providers it uses shut down (see AnalysisProcessor). */
    async onApplicationShutdown(): Promise<void> {
      clearInterval(this.timer);
      let worker: Worker;
      try {
        worker = this.worker;
      } catch {
        return;
      }
      await worker.close();
    }

    private async ensureAuditSchedule(): Promise<void> {
      const every = this.config.accounts.storageAuditEveryMs;
      if (!every) {
        await this.queue.removeJobScheduler(AUDIT_JOB);
        return;
      }
      const scheduler = await this.queue.getJobScheduler(AUDIT_JOB);
      if (scheduler && Number(scheduler.every) === every) return;
      await this.queue.upsertJobScheduler(AUDIT_JOB, { every }, { name: AUDIT_JOB });
    }

    async process(job: Job): Promise<unknown> {
      switch (job.name) {
        case PURGE_JOB:
          return this.purge.purge(Number(job.data.userId), (uploads) => job.updateProgress({ uploads }));
        case AUDIT_JOB:
          return this.audit.run();
        default:
          return undefined;
      }
    }
  }
  return AccountPurgeProcessor;
}
