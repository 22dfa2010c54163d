import { Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { InjectQueue, OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job, Queue, Worker } from 'bullmq';
import type { AppConfig } from '@echo/config';
import { QUEUES, queueErrorListener } from '@echo/queue';
import { SWEEP_EXPORTS_JOB } from './export-dispatcher.js';
import { ExportRunner } from './export-runner.js';
import { EXPORT_SWEEP_EVERY_MS, ExportSweeper } from './export-sweeper.js';

/** States in which the sweep schedule's next iteration will still run. */
const LIVE = new Set(['delayed', 'waiting', 'prioritized', 'active', 'paused']);

/**
 * The worker's consumer of the `exports` queue: builds archives (one at a time per worker: an
 * export is a long stream whose memory is its buffers, so more at once only multiplies them) and
 * runs the repeatable expiry sweep. A killed worker's export is taken again once its lock
 * (QUEUE_LOCK_DURATION_MS) lapses, and rebuilt from the start. Every worker upserts the sweep's
 * schedule (one schedule however many run) and checks every EXPORT_SWEEP_EVERY_MS that it still
 * has a next iteration (a Redis flush or failover can lose it; see MaintenanceProcessor).
 *
 * A class per config, because @nestjs/bullmq reads worker options from the decorator.
 */
export function exportProcessor(config: AppConfig) {
  @Processor(QUEUES.exports, {
    concurrency: 1,
    lockDuration: config.queue.lockDurationMs,
    stalledInterval: config.queue.lockDurationMs,
    maxStalledCount: 2,
  })
  class ExportProcessor extends WorkerHost implements OnApplicationBootstrap, OnApplicationShutdown {
    private readonly logger = new Logger('ExportProcessor');
    private timer?: NodeJS.Timeout;

    constructor(
      @InjectQueue(QUEUES.exports) private readonly queue: Queue,
      private readonly runner: ExportRunner,
      private readonly sweeper: ExportSweeper,
    ) {
      super();
    }

    private readonly onRedisError = queueErrorListener('worker exports');

    @OnWorkerEvent('error')
    onError(err: Error): void {
      this.onRedisError(err);
    }

    async onApplicationBootstrap(): Promise<void> {
      await this.schedule();
      this.timer = setInterval(() => void this.restoreSchedule(), EXPORT_SWEEP_EVERY_MS);
      this.timer.unref();
    }

    /** Lets the running export finish (or hand back) before the providers it uses shut down. */
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

    async process(job: Job<{ exportId?: string }>): Promise<unknown> {
      if (job.name === SWEEP_EXPORTS_JOB) return this.sweeper.sweep();
      const attempt = job.attemptsMade + 1;
      return this.runner.run(job.data.exportId!, { final: attempt >= (job.opts.attempts ?? 1) });
    }

    private schedule(): Promise<unknown> {
      return this.queue.upsertJobScheduler(
        SWEEP_EXPORTS_JOB,
        { every: EXPORT_SWEEP_EVERY_MS },
        { name: SWEEP_EXPORTS_JOB, opts: { attempts: 1 } },
      );
    }

    private async restoreSchedule(): Promise<void> {
      try {
        const scheduler = await this.queue.getJobScheduler(SWEEP_EXPORTS_JOB);
        const next = scheduler?.next
          ? await this.queue.getJob(`repeat:${SWEEP_EXPORTS_JOB}:${scheduler.next}`)
          : undefined;
        if (next && LIVE.has(await next.getState())) return;
        await this.schedule();
        this.logger.warn(`job scheduler ${SWEEP_EXPORTS_JOB} had no next iteration: re-registered`);
      } catch (err) {
        this.logger.warn(`job scheduler check failed: ${(err as Error).message}`);
      }
    }
  }
  return ExportProcessor;
}
