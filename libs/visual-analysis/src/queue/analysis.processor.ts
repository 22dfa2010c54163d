import { Inject, type OnApplicationShutdown } from '@nestjs/common';
import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { UnrecoverableError, type Job, type Worker } from 'bullmq';
import type { AppConfig } from '@echo/config';
import { QUEUES, queueErrorListener } from '@echo/queue';
import { AnalysisRunner } from '../analysis-runner.js';
import { UnrecoverableImageError } from '../analyzer/errors.js';

/**
 * The worker's consumer of the analysis queue (a class per config, because @nestjs/bullmq
 * reads worker options from the decorator). sharp runs in libuv's pool, so small concurrency
 * keeps the event loop free to renew job locks; a killed worker's job is retried once its
 * lock (QUEUE_LOCK_DURATION_MS) lapses.
 */
export function analysisProcessor(config: AppConfig) {
  @Processor(QUEUES.analysis, {
    concurrency: config.queue.workerConcurrency,
    lockDuration: config.queue.lockDurationMs,
    stalledInterval: config.queue.lockDurationMs,
    maxStalledCount: 2,
  })
  class AnalysisProcessor extends WorkerHost implements OnApplicationShutdown {
    constructor(@Inject(AnalysisRunner) private readonly runner: AnalysisRunner) {
      super();
    }

    /**
     * Lets the running jobs finish here, before the providers they use shut down (Nest stops a
     * module's dependents first): the events Redis connection would otherwise close under the
     * last job's `completed` event. @nestjs/bullmq's own close afterwards is then a no-op.
     */
    async onApplicationShutdown(): Promise<void> {
      let worker: Worker;
      try {
        worker = this.worker;
      } catch {
        return; // init failed before the worker was made: nothing to close
      }
      await worker.close();
    }

    private readonly onRedisError = queueErrorListener('worker visual-analysis');

    /** Redis errors of the worker (a failover): logged, not printed by BullMQ with a stack each. */
    @OnWorkerEvent('error')
    onError(err: Error): void {
      this.onRedisError(err);
    }

    async process(job: Job<{ analysisId: string }>): Promise<string> {
      const attempt = job.attemptsMade + 1;
      try {
        return await this.runner.run(job.data.analysisId, {
          attempt,
          final: attempt >= (job.opts.attempts ?? 1),
          onProgress: (pct) => job.updateProgress(pct),
        });
      } catch (err) {
        // A corrupt image fails at once: retrying cannot help.
        if (err instanceof UnrecoverableImageError) throw new UnrecoverableError(err.message);
        throw err;
      }
    }
  }
  return AnalysisProcessor;
}
