import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { UploadsService } from './uploads.service.js';

const EVERY_MS = 15 * 60_000;

/** Periodically removes (or completes) temp objects older than an hour and expired tus uploads; idempotent, so several processes may run it. */
@Injectable()
export class OrphanSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('OrphanSweeper');
  private timer?: NodeJS.Timeout;

  constructor(private readonly uploads: UploadsService) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.run(), EVERY_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  async run(): Promise<void> {
    try {
      const { removed, recovered, expired } = await this.uploads.sweepOrphans();
      if (removed || recovered || expired) this.logger.log(`temp objects: ${removed} removed, ${recovered} completed; ${expired} expired tus uploads removed`);
    } catch (err) {
      this.logger.warn(`sweep failed: ${(err as Error).message}`);
    }
  }
}
