import { Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { QUEUES } from './queue.constants.js';

/** Readiness of the queue backend; 'in-process' in embedded mode. */
@Injectable()
export class QueueHealth {
  constructor(private readonly moduleRef: ModuleRef) {}

  private queue(): Queue | undefined {
    try {
      return this.moduleRef.get<Queue>(getQueueToken(QUEUES.analysis), { strict: false });
    } catch {
      return undefined;
    }
  }

  async check(): Promise<{ backend: 'redis' | 'in-process'; [state: string]: unknown }> {
    const queue = this.queue();
    if (!queue) return { backend: 'in-process' };
    // A cheap round trip through BullMQ itself (v6 hides the raw client behind its backend).
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed');
    return { backend: 'redis', ...counts };
  }
}
