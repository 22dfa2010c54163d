import { Injectable } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { QUEUES } from '@echo/queue';
import { EXPORT_JOB, ExportDispatcher } from './export-dispatcher.js';

const PENDING = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'paused']);

@Injectable()
export class BullmqExportDispatcher extends ExportDispatcher {
  constructor(@InjectQueue(QUEUES.exports) private readonly queue: Queue) {
    super();
  }

  async enqueue(exportId: string): Promise<void> {
    await this.queue.add(EXPORT_JOB, { exportId }, { jobId: exportId });
  }

  async isPending(exportId: string): Promise<boolean> {
    const job = await this.queue.getJob(exportId);
    return job ? PENDING.has(await job.getState()) : false;
  }

  async requeue(exportId: string): Promise<void> {
    const job = await this.queue.getJob(exportId);
    if (job && PENDING.has(await job.getState())) return;
    await job?.remove();
    await this.enqueue(exportId);
  }
}
