import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { ExportDispatcher } from './export-dispatcher.js';
import { EXPORT_SWEEP_EVERY_MS, ExportSweeper } from './export-sweeper.js';
import { ExportsRepository } from './exports.repository.js';

/**
 * Embedded mode's upkeep: at start every queued or running export is orphaned (its run lived in
 * the previous process), so each is run again; then the sweep every EXPORT_SWEEP_EVERY_MS.
 */
@Injectable()
export class EmbeddedExports implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('EmbeddedExports');
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly exports: ExportsRepository,
    private readonly dispatcher: ExportDispatcher,
    private readonly sweeper: ExportSweeper,
  ) {}

  onApplicationBootstrap(): void {
    void this.resume();
    this.timer = setInterval(() => void this.sweep(), EXPORT_SWEEP_EVERY_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  private async resume(): Promise<void> {
    try {
      for (const row of await this.exports.allPending(1000)) await this.dispatcher.enqueue(row.id);
    } catch (err) {
      this.logger.warn(`resuming exports failed: ${(err as Error).message}`);
    }
  }

  async sweep(): Promise<void> {
    try {
      await this.sweeper.sweep();
    } catch (err) {
      this.logger.warn(`export sweep failed: ${(err as Error).message}`);
    }
  }
}
