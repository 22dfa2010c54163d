import { Injectable } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { QUEUES } from '@echo/queue';
import { AnalysisDispatcher } from './analysis-dispatcher.js';

export const ANALYZE_JOB = 'analyze';
const PENDING = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);
const STATES = ['waiting', 'active', 'completed', 'failed', 'delayed'] as const;

@Injectable()
export class BullmqDispatcher extends AnalysisDispatcher {
  constructor(
    @InjectQueue(QUEUES.analysis) private readonly analysis: Queue,
    @InjectQueue(QUEUES.maintenance) private readonly maintenance: Queue,
  ) {
    super();
  }

  async enqueue(analysisId: string): Promise<void> {
    await this.analysis.add(ANALYZE_JOB, { analysisId }, { jobId: analysisId });
  }

  async isPending(analysisId: string): Promise<boolean> {
    const job = await this.analysis.getJob(analysisId);
    return job ? PENDING.has(await job.getState()) : false;
  }

  async requeue(analysisId: string): Promise<void> {
    const job = await this.analysis.getJob(analysisId);
    if (job && PENDING.has(await job.getState())) return;
    await job?.remove();
    await this.enqueue(analysisId);
  }

  async counts(): Promise<Record<string, Record<string, number>>> {
    const [analysis, maintenance] = await Promise.all([
      this.analysis.getJobCounts(...STATES),
      this.maintenance.getJobCounts(...STATES),
    ]);
    return { [QUEUES.analysis]: analysis, [QUEUES.maintenance]: maintenance };
  }
}
