import { Inject, Injectable, Logger } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import type { QueueName } from '@echo/queue';
import { mapLimit } from '../map-limit.js';

/** A job the purge could not remove because a worker holds it: waited for, then removed. */
export interface RunningJob {
  queue: QueueName;
  id: string;
}

/**
 * The user's jobs in other queues: an analysis job's id is its analysis id, an export job's its
 * export id. Waiting, delayed, finished ones are removed (nothing in Redis refers to the user's
 * data afterwards); one a worker is running cannot be (BullMQ keeps it locked), so the purge waits
 * for it to end before its last file sweep: the analysis runner skips an analysis whose row is
 * gone and removes what it wrote once its completion finds the row gone. Embedded mode has no
 * queue: the in-process runner skips missing rows the same way.
 */
@Injectable()
export class PurgeJobs {
  private readonly logger = new Logger('AccountPurge');

  constructor(
    private readonly moduleRef: ModuleRef,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Removes the jobs; returns those still running, and how many were removed. */
  async remove(queueName: QueueName, ids: readonly string[]): Promise<{ removed: number; running: RunningJob[] }> {
    const queue = this.queue(queueName);
    if (!queue || !ids.length) return { removed: 0, running: [] };
    const outcomes = await mapLimit(ids, 16, async (id) => {
      if (await queue.remove(id)) return 'removed' as const;
      // 0: no such job, or it is locked by a worker.
      const job = await queue.getJob(id);
      return job && (await job.getState()) === 'active' ? ('running' as const) : ('none' as const);
    });
    return {
      removed: outcomes.filter((o) => o === 'removed').length,
      running: ids.filter((_, i) => outcomes[i] === 'running').map((id) => ({ queue: queueName, id })),
    };
  }

  /**
   * Waits until none of these jobs is active any more (at most one analysis deadline plus a lock
   * period: a worker killed mid-job loses its lock by then), then removes them.
   */
  async waitFor(jobs: readonly RunningJob[]): Promise<void> {
    const deadline =
      Date.now() + this.config.queue.analysisTimeoutSeconds * 1000 + 2 * this.config.queue.lockDurationMs;
    for (const { queue: name, id } of jobs) {
      const queue = this.queue(name)!;
      for (;;) {
        const job = await queue.getJob(id);
        if (!job || (await job.getState()) !== 'active') break;
        if (Date.now() > deadline) {
          this.logger.warn(`${name} job ${id} still running: left to finish on its own`);
          break;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      await queue.remove(id).catch(() => 0);
    }
  }

  private queue(name: QueueName): Queue | undefined {
    if (!this.config.redis.queue) return undefined;
    try {
      return this.moduleRef.get<Queue>(getQueueToken(name), { strict: false });
    } catch {
      return undefined;
    }
  }
}
