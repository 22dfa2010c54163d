import { Injectable, Logger } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { UploadsService } from './uploads.service.js';

/**
 * How often upload temp objects are swept: by this in-process timer in embedded mode, by the
 * worker's BullMQ job scheduler otherwise (MaintenanceProcessor).
 */
export const ORPHAN_SWEEP_EVERY_MS = 15 * 60_000;

/**
 * Periodically removes (or completes) temp objects older than an hour, expired tus uploads and
 * thumbnails and previews whose upload is gone; idempotent, so several processes may run it.
 */
@Injectable()
export class OrphanSweeper {
  private readonly logger = new Logger('OrphanSweeper');

  constructor(private readonly uploads: UploadsService) {}

  @Interval('orphan-sweep', ORPHAN_SWEEP_EVERY_MS)
  async run(): Promise<void> {
    try {
      const { removed, recovered, expired, thumbnails, previews } = await this.uploads.sweepOrphans();
      if (removed || recovered || expired || thumbnails || previews)
        this.logger.log(
          `temp objects: ${removed} removed, ${recovered} completed; ${expired} expired tus uploads removed; ${thumbnails} orphan thumbnails and ${previews} orphan previews removed`,
        );
    } catch (err) {
      this.logger.warn(`sweep failed: ${(err as Error).message}`);
    }
  }
}
