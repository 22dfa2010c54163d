import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { JOB_DEFAULTS, QUEUES } from '@echo/queue';
import { ExportDispatcher } from './export-dispatcher.js';
import { ExportRunner } from './export-runner.js';

/**
 * Embedded mode (no Redis): exports run in this process one at a time (an export is I/O, but it
 * shares the API's disk and libuv threads), with the queue's retry policy (attempts, backoff).
 * Runs that die with the process are picked up again at the next start (EmbeddedExports).
 */
@Injectable()
export class InProcessExportDispatcher extends ExportDispatcher implements OnApplicationShutdown {
  private readonly logger = new Logger('InProcessExports');
  private readonly waiting: string[] = [];
  private readonly pending = new Set<string>();
  private running = false;
  private closed = false;

  constructor(private readonly runner: ExportRunner) {
    super();
  }

  async enqueue(exportId: string): Promise<void> {
    if (this.pending.has(exportId) || this.closed) return;
    this.pending.add(exportId);
    this.waiting.push(exportId);
    this.pump();
  }

  async isPending(exportId: string): Promise<boolean> {
    return this.pending.has(exportId);
  }

  requeue(exportId: string): Promise<void> {
    return this.enqueue(exportId);
  }

  onApplicationShutdown(): void {
    this.closed = true;
    this.waiting.length = 0;
  }

  private pump(): void {
    if (this.running || this.closed || !this.waiting.length) return;
    const id = this.waiting.shift()!;
    this.running = true;
    void this.runWithRetries(id).finally(() => {
      this.running = false;
      this.pending.delete(id);
      this.pump();
    });
  }

  private async runWithRetries(id: string): Promise<void> {
    const { attempts = 1, backoff } = JOB_DEFAULTS[QUEUES.exports];
    const delay = typeof backoff === 'object' ? (backoff.delay ?? 1000) : 1000;
    for (let attempt = 1; attempt <= attempts && !this.closed; attempt++) {
      try {
        await this.runner.run(id, { final: attempt === attempts });
        return;
      } catch (err) {
        this.logger.warn(`export ${id} attempt ${attempt} failed: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, delay * 2 ** (attempt - 1)).unref());
      }
    }
  }
}
