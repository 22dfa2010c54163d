import { Injectable } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import type { Job, Queue } from 'bullmq';
import { QUEUES } from '@echo/queue';
import { PurgeQueue } from './purge-queue.js';
import { PURGE_MARGIN_MS, purgeJobId } from './purge-timing.js';

export const PURGE_JOB = 'purge';
/** States in which a purge job will still run (or is running). */
const LIVE = new Set(['waiting', 'delayed', 'prioritized', 'waiting-children', 'paused', 'active']);

/** Purges as BullMQ jobs `purge-<userId>`, delayed until their time. */
@Injectable()
export class BullmqPurgeQueue extends PurgeQueue {
  constructor(@InjectQueue(QUEUES.accountPurge) private readonly queue: Queue) {
    super();
  }

  async schedule(userId: number, deleteAfter: Date): Promise<void> {
    // A new time replaces a queued job (an admin's `now=true` over a user's own request).
    if ((await this.dropUnlessActive(userId)) === 'active') return;
    await this.add(userId, Math.max(0, deleteAfter.getTime() + PURGE_MARGIN_MS - Date.now()));
  }

  async ensure(userId: number): Promise<void> {
    const job = await this.queue.getJob(purgeJobId(userId));
    const state = job ? await job.getState() : 'missing';
    if (LIVE.has(state)) return;
    if (job) await job.remove(); // failed (or completed): a due purge is tried again
    await this.add(userId, 0);
  }

  async cancel(userId: number): Promise<void> {
    await this.dropUnlessActive(userId);
  }

  private async add(userId: number, delay: number): Promise<void> {
    await this.queue.add(PURGE_JOB, { userId }, { jobId: purgeJobId(userId), delay });
  }

  private async dropUnlessActive(userId: number): Promise<'active' | 'dropped' | 'none'> {
    const job: Job | undefined = await this.queue.getJob(purgeJobId(userId));
    if (!job) return 'none';
    if ((await job.getState()) === 'active') return 'active';
    try {
      await job.remove();
      return 'dropped';
    } catch {
      return 'active'; // taken by a worker in between: it is locked
    }
  }
}
