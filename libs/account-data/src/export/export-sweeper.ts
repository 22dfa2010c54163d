import { Inject, Injectable, Logger } from '@nestjs/common';
import { EXPORTS_PREFIX, exportKey, STORAGE, type StorageDriver } from '@echo/storage';
import { ExportDispatcher } from './export-dispatcher.js';
import { ExportsRepository } from './exports.repository.js';

/** How often the sweep runs (a repeatable job in the worker; a timer in embedded mode). */
export const EXPORT_SWEEP_EVERY_MS = 5 * 60_000;
/** A queued or running export this old with no job waiting or running lost its job: enqueued again. */
export const EXPORT_LOST_AFTER_MS = 2 * 60_000;
/** An object under exports/ that no completed export names, untouched this long, is a leftover. */
export const EXPORT_ORPHAN_AFTER_MS = 60 * 60_000;
const BATCH = 100;

// `<id>.zip` (before per-run keys) or `<id>.<run>.zip`, and a local `.partial` suffix.
const ARCHIVE_KEY = /^exports\/\d+\/([0-9a-f-]{36})(?:\.[0-9a-f]{8})?\.zip/;

/**
 * The exports' upkeep: removes expired exports (the archive, then the row: a crash between the
 * two leaves a row whose archive is gone, removed next time), enqueues again an export whose job
 * was lost (Redis flushed), and removes leftovers under exports/ that no completed export names
 * (a crashed run's `.partial` file on local disk, an archive whose row went with its user).
 * Idempotent: two sweeps at once only delete the same things twice.
 */
@Injectable()
export class ExportSweeper {
  private readonly logger = new Logger('ExportSweeper');

  constructor(
    private readonly exports: ExportsRepository,
    private readonly dispatcher: ExportDispatcher,
    @Inject(STORAGE) private readonly storage: StorageDriver,
  ) {}

  async sweep(now = new Date()): Promise<{ expired: number; requeued: number; leftovers: number }> {
    const expired = await this.removeExpired(now);
    const requeued = await this.requeueLost(now);
    const leftovers = await this.removeLeftovers(now);
    if (expired || requeued || leftovers)
      this.logger.log(`exports swept: ${expired} expired, ${requeued} re-enqueued, ${leftovers} leftover objects`);
    return { expired, requeued, leftovers };
  }

  private async removeExpired(now: Date): Promise<number> {
    let removed = 0;
    for (;;) {
      const rows = await this.exports.expired(now, BATCH);
      for (const row of rows) {
        await this.storage.delete(row.storageKey ?? exportKey(row.userId, row.id));
        await this.exports.delete(row.id);
        removed++;
      }
      if (rows.length < BATCH) return removed;
    }
  }

  private async requeueLost(now: Date): Promise<number> {
    let requeued = 0;
    const rows = await this.exports.pendingCreatedBefore(new Date(now.getTime() - EXPORT_LOST_AFTER_MS), BATCH);
    for (const row of rows) {
      if (await this.dispatcher.isPending(row.id)) continue;
      await this.dispatcher.requeue(row.id);
      this.logger.warn(`export ${row.id} (${row.status}) had no job: enqueued again`);
      requeued++;
    }
    return requeued;
  }

  private async removeLeftovers(now: Date): Promise<number> {
    let removed = 0;
    const cutoff = new Date(now.getTime() - EXPORT_ORPHAN_AFTER_MS);
    for await (const key of this.storage.listOlderThan(EXPORTS_PREFIX, cutoff)) {
      const id = ARCHIVE_KEY.exec(key)?.[1];
      const row = id ? await this.exports.findById(id) : null;
      if (row?.status === 'completed' && row.storageKey === key) continue;
      await this.storage.delete(key);
      removed++;
    }
    return removed;
  }
}
