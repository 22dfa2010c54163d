import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { exportKey, STORAGE, type StorageDriver } from '@echo/storage';
import type { DataExport } from './export.entity.js';
import { writeExportArchive } from './export-archive.js';
import { DatabaseExportSource, ExportCancelled } from './export-data.js';
import { ExportEvents } from './export-events.js';
import { ExportsRepository } from './exports.repository.js';

/** At most one progress write per this long, and only when the percentage moved. */
export const PROGRESS_EVERY_MS = 250;
/** A progress event when the percentage moved this much since the last one. */
export const PROGRESS_EVENT_STEP = 5;

/** What became of a run. */
export type RunOutcome = 'completed' | 'failed' | 'cancelled' | 'skipped';

/** A failure the owner reads in `error` (the cause itself goes to the log). */
const STORAGE_FAILED = 'The archive could not be written to storage. Request a new export later.';
const UNEXPECTED = 'The export failed unexpectedly. Request a new export later.';

/**
 * Builds one export: claims the row (queued → running), streams the ZIP into storage under
 * `exports/<userId>/<id>.<run>.zip`, reports progress, and marks it completed (naming that key)
 * with its expiry — or,
 * on the last attempt, failed with a reason. A run whose export or user disappears meanwhile (an
 * account purge deletes both) stops at its next progress write, removes what it wrote and ends
 * quietly; so does a run of an export already finished (a duplicate job).
 */
@Injectable()
export class ExportRunner {
  private readonly logger = new Logger('ExportRunner');

  constructor(
    private readonly exports: ExportsRepository,
    private readonly events: ExportEvents,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(STORAGE) private readonly storage: StorageDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** `final`: no retry follows a failure, so it is recorded; otherwise it is rethrown (the queue retries). */
  async run(id: string, { final }: { final: boolean }): Promise<RunOutcome> {
    const row = await this.exports.claim(id);
    if (!row) return 'skipped';
    await this.events.changed(row);
    // Its own key per run: two runs of one export (a job whose lock lapsed, run again meanwhile)
    // never write, nor delete, each other's archive; complete() records the winner's.
    const key = runKey(row.userId, row.id);
    const started = Date.now();
    let flushed = 0;
    let reported = 0;
    let published = 0;
    try {
      const result = await writeExportArchive(
        new DatabaseExportSource(this.dataSource, this.storage, row.userId, row.id),
        (archive) => this.storage.putStream(key, archive, { contentType: 'application/zip' }),
        {
          exportId: row.id,
          spoolDir: tmpdir(),
          onFile: async (done, total) => {
            // 99 at most: 100 means the archive is stored.
            const progress = Math.min(99, Math.floor((done * 100) / Math.max(1, total)));
            const now = Date.now();
            if (progress === reported || now - flushed < PROGRESS_EVERY_MS) return;
            [flushed, reported] = [now, progress];
            if (!(await this.exports.progress(id, progress))) throw new ExportCancelled();
            // Events in steps of 5 %: at most ~20 per export in the user's replay window
            // (SSE_REPLAY_EVENTS), which analysis events share.
            if (progress - published >= PROGRESS_EVENT_STEP) {
              published = progress;
              void this.events.changed({ ...row, progress });
            }
          },
        },
      );
      const completed = await this.exports.complete(id, key, result.size, this.config.exports.ttlMs);
      if (!completed) throw new ExportCancelled();
      await this.events.changed(completed);
      this.logger.log(
        `export ${id} of user ${row.userId}: ${result.files} files (${result.missing} missing), ` +
          `${result.size} bytes in ${Date.now() - started} ms`,
      );
      await this.removeSuperseded(completed);
      return 'completed';
    } catch (err) {
      if (err instanceof ExportCancelled || !(await this.exports.findById(id))) {
        await this.storage.delete(key).catch(() => undefined);
        this.logger.log(`export ${id} stopped: the export or its user is gone`);
        return 'cancelled';
      }
      this.logger.warn(`export ${id} failed${final ? '' : ' (will retry)'}: ${(err as Error).stack ?? err}`);
      await this.storage.delete(key).catch(() => undefined);
      if (!final) {
        await this.exports.requeue(id);
        const queued = await this.exports.findById(id);
        if (queued) await this.events.changed(queued);
        throw err;
      }
      const failed = await this.exports.fail(
        id,
        isStorageError(err) ? STORAGE_FAILED : UNEXPECTED,
        this.config.exports.ttlMs,
      );
      if (failed) await this.events.changed(failed);
      return 'failed';
    }
  }

  /**
   * One archive per user is kept: a newer one replaces the older (fewer copies of someone's
   * photos lying around; the newer has everything the older had, and more).
   */
  private async removeSuperseded(latest: DataExport): Promise<void> {
    for (const old of await this.exports.completedBefore(latest.userId, latest.id)) {
      if (new Date(old.createdAt) > new Date(latest.createdAt)) continue;
      if (old.storageKey) await this.storage.delete(old.storageKey);
      await this.exports.delete(old.id);
    }
  }
}

/** `exports/<userId>/<id>.<8 hex>.zip`: one run's archive (the sweeper and the audit read the id from it). */
export function runKey(userId: number, id: string): string {
  return exportKey(userId, `${id}.${randomBytes(4).toString('hex')}`);
}

/**
 * Errors from the storage side rather than the data: an S3 service error (it carries $metadata),
 * a file system error (it names a path: disk full, read-only, permissions, a broken directory).
 */
export function isStorageError(err: unknown): boolean {
  const e = err as { $metadata?: unknown; path?: unknown; code?: string };
  return e?.$metadata !== undefined || typeof e?.path === 'string' || ['ENOSPC', 'EDQUOT'].includes(e?.code ?? '');
}
