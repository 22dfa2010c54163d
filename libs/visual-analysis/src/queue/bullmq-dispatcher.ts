import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { QUEUES } from '@echo/queue';
import { AnalysisDispatcher } from './analysis-dispatcher.js';

export const ANALYZE_JOB = 'analyze';
const PENDING = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'paused']);
const STATES = ['waiting', 'active', 'completed', 'failed', 'delayed'] as const;
/**
 * A failed enqueue is tried again in the background after these pauses (ms): a Redis failover
 * (Sentinel or Cluster) is over in a few seconds, so the job usually exists long before the
 * reconciler's next pass; the reconciler stays the backstop for a longer outage or a restart.
 */
export const ENQUEUE_RETRY_MS = [250, 500, 1000, 2000, 4000, 8000];

@Injectable()
export class BullmqDispatcher extends AnalysisDispatcher implements OnApplicationShutdown {
  private readonly logger = new Logger('BullmqDispatcher');
  private readonly retries = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(
    @InjectQueue(QUEUES.analysis) private readonly analysis: Queue,
    @InjectQueue(QUEUES.maintenance) private readonly maintenance: Queue,
  ) {
    super();
  }

  /**
   * Adds the job; if that fails, it rejects (the caller's row stays `queued`) and keeps trying in
   * the background. Adding again is safe: the job id is the analysis id, and the runner skips an
   * analysis already finished (a lost reply may hide an add that happened).
   */
  async enqueue(analysisId: string): Promise<void> {
    try {
      await this.add(analysisId);
    } catch (err) {
      this.retryLater(analysisId, 0);
      throw err;
    }
  }

  onApplicationShutdown(): void {
    this.closed = true;
    for (const timer of this.retries.values()) clearTimeout(timer);
    this.retries.clear();
  }

  private async add(analysisId: string): Promise<void> {
    await this.analysis.add(ANALYZE_JOB, { analysisId }, { jobId: analysisId });
  }

  private retryLater(analysisId: string, attempt: number): void {
    // One retry chain per analysis; none once shutting down (an add still in flight may fail after it).
    if (this.closed || this.retries.has(analysisId)) return;
    if (attempt >= ENQUEUE_RETRY_MS.length) {
      this.logger.warn(`enqueue of ${analysisId} still failing: left to the reconciler`);
      return;
    }
    const timer = setTimeout(() => {
      this.retries.delete(analysisId);
      this.add(analysisId).then(
        () => this.logger.log(`enqueue of ${analysisId} succeeded on retry ${attempt + 1}`),
        () => this.retryLater(analysisId, attempt + 1),
      );
    }, ENQUEUE_RETRY_MS[attempt]);
    timer.unref();
    this.retries.set(analysisId, timer);
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

  async oldestWaiting(): Promise<Record<string, number>> {
    const [analysis, maintenance] = await Promise.all([headWait(this.analysis), headWait(this.maintenance)]);
    return { [QUEUES.analysis]: analysis, [QUEUES.maintenance]: maintenance };
  }
}

/**
 * Seconds the job next in line has waited: the oldest end of the wait list (FIFO: the next one
 * taken; and the prioritized set's first, which Echo never fills), one script and one hash read
 * however many jobs wait. It has waited since it was due: added, plus its delay (a schedule's next
 * run), or, retried, since its last attempt began (BullMQ records neither when a delayed job was
 * promoted nor when an attempt failed). 0 when none waits.
 */
async function headWait(queue: Queue): Promise<number> {
  const heads = await queue.getJobs(['wait', 'prioritized'], 0, 0, true);
  const now = Date.now();
  let waited = 0;
  for (const job of heads) {
    const due = Math.max(job.timestamp + (job.opts.delay ?? 0), job.processedOn ?? 0);
    // Clamped: the adding process's clock may run ahead of this one's.
    waited = Math.max(waited, (now - due) / 1000);
  }
  return waited;
}
