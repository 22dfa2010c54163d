import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { JOB_DEFAULTS, QUEUES } from '@echo/queue';
import { AnalysisDispatcher } from './analysis-dispatcher.js';
import { AnalysisRunner } from '../analysis-runner.js';
import { UnrecoverableImageError } from '../analyzer/errors.js';

/**
 * Analyses this process runs at once in embedded mode, whatever WORKER_CONCURRENCY says. Each sharp
 * call holds one of libuv's threads (4 unless UV_THREADPOOL_SIZE says otherwise) for as long as
 * libvips works, and here they are the API's threads too: argon2 (register, login) and fs wait
 * behind them. One analysis at a time, whose sharp calls run one after another, leaves the API
 * three. (A worker_thread would not: the libuv pool is per process, shared by every thread.)
 * More throughput: run the worker app (Redis), whose pool is its own.
 */
export const EMBEDDED_ANALYSIS_SLOTS = 1;

/**
 * Embedded mode (no Redis): the same AnalysisRunner in this process, EMBEDDED_ANALYSIS_SLOTS at a
 * time, with the queue's retry policy (attempts, exponential backoff).
 */
@Injectable()
export class InProcessDispatcher extends AnalysisDispatcher implements OnApplicationShutdown {
  private readonly logger = new Logger('InProcessJobs');
  private readonly waiting: string[] = [];
  /** When each waiting id was enqueued (ms), for the oldest-waiting metric. */
  private readonly waitingSince = new Map<string, number>();
  private readonly pending = new Set<string>();
  private readonly stats = { waiting: 0, active: 0, completed: 0, failed: 0, delayed: 0 };
  private running = 0;
  private closed = false;

  constructor(private readonly runner: AnalysisRunner) {
    super();
  }

  async enqueue(analysisId: string): Promise<void> {
    if (this.pending.has(analysisId) || this.closed) return;
    this.pending.add(analysisId);
    this.waiting.push(analysisId);
    this.waitingSince.set(analysisId, Date.now());
    this.pump();
  }

  async isPending(analysisId: string): Promise<boolean> {
    return this.pending.has(analysisId);
  }

  requeue(analysisId: string): Promise<void> {
    return this.enqueue(analysisId);
  }

  async counts(): Promise<Record<string, Record<string, number>>> {
    return { [QUEUES.analysis]: { ...this.stats, waiting: this.waiting.length, active: this.running } };
  }

  /** The in-process line: the first id in it has waited longest (a retry's backoff counts as active). */
  async oldestWaiting(): Promise<Record<string, number>> {
    const since = this.waiting.length ? this.waitingSince.get(this.waiting[0]) : undefined;
    return { [QUEUES.analysis]: since === undefined ? 0 : (Date.now() - since) / 1000 };
  }

  onApplicationShutdown(): void {
    this.closed = true;
    this.waiting.length = 0;
    this.waitingSince.clear();
  }

  private pump(): void {
    while (!this.closed && this.running < EMBEDDED_ANALYSIS_SLOTS && this.waiting.length) {
      const id = this.waiting.shift()!;
      this.waitingSince.delete(id);
      this.running++;
      void this.runWithRetries(id).finally(() => {
        this.running--;
        this.pending.delete(id);
        this.pump();
      });
    }
  }

  private async runWithRetries(id: string): Promise<void> {
    const { attempts = 1, backoff } = JOB_DEFAULTS[QUEUES.analysis];
    const delay = typeof backoff === 'object' ? (backoff.delay ?? 1000) : 1000;
    for (let attempt = 1; attempt <= attempts && !this.closed; attempt++) {
      try {
        await this.runner.run(id, { attempt, final: attempt === attempts });
        this.stats.completed++;
        return;
      } catch (err) {
        if (err instanceof UnrecoverableImageError || attempt === attempts) {
          this.stats.failed++;
          return;
        }
        this.logger.warn(`analysis ${id} attempt ${attempt} failed: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, delay * 2 ** (attempt - 1)).unref());
      }
    }
  }
}
