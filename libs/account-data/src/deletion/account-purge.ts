import { Injectable, Logger } from '@nestjs/common';
import { CacheService } from '@echo/cache';
import { QUEUES } from '@echo/queue';
import { analysisResultKey } from '@echo/visual-analysis';
import { PurgeRepository } from './purge.repository.js';
import { PurgeStorage } from './purge-storage.js';
import { PurgeJobs, type RunningJob } from './purge-jobs.js';
import { PurgeRedisKeys } from './purge-redis-keys.js';

/** Uploads deleted per step: their files, then their rows, in one short transaction. */
export const PURGE_BATCH = 200;

/** What one purge run found and removed (all zero: nothing was left to do). */
export interface PurgeReport {
  userId: number;
  /** Why nothing was done: the user is not scheduled (restored), or not due yet. */
  skipped?: 'not scheduled' | 'not due';
  uploads: number;
  analyses: number;
  exports: number;
  /** Storage deletes: each upload's three keys, and every object found under the user's prefixes. */
  objects: number;
  tusUploads: number;
  refreshTokens: number;
  jobs: number;
  redisKeys: number;
  userDeleted: boolean;
  ms: number;
}

/** Reported as a job's progress: uploads removed so far. */
export type PurgeProgress = (uploadsRemoved: number) => Promise<void> | void;

/** A report with nothing in it: the second run of a finished purge. */
export const nothingDone = (r: PurgeReport) =>
  !r.uploads &&
  !r.analyses &&
  !r.exports &&
  !r.objects &&
  !r.tusUploads &&
  !r.refreshTokens &&
  !r.jobs &&
  !r.redisKeys &&
  !r.userDeleted;

/**
 * Removes everything of one account whose deletion is due. Resumable and idempotent: it works
 * from what is still there, files before the rows that name them (a crash in between leaves rows
 * whose files are gone, deleted again next time; never files nobody can find), the user row
 * last, so a row still there means the purge is not finished — and a purge of a user whose row is
 * gone still sweeps the leftovers (storage prefixes, tus staging, Redis), finding nothing the
 * second time. The user was deactivated and their sessions ended when the deletion was scheduled.
 */
@Injectable()
export class AccountPurge {
  private readonly logger = new Logger('AccountPurge');

  constructor(
    private readonly repo: PurgeRepository,
    private readonly storage: PurgeStorage,
    private readonly jobs: PurgeJobs,
    private readonly redis: PurgeRedisKeys,
    private readonly cache: CacheService,
  ) {}

  async purge(userId: number, onProgress?: PurgeProgress): Promise<PurgeReport> {
    const started = Date.now();
    const report: PurgeReport = {
      userId,
      uploads: 0,
      analyses: 0,
      exports: 0,
      objects: 0,
      tusUploads: 0,
      refreshTokens: 0,
      jobs: 0,
      redisKeys: 0,
      userDeleted: false,
      ms: 0,
    };
    // Claimed before anything is deleted (a restore fails from then on); a user row already gone
    // is a finished purge whose leftovers are swept again below.
    const user = await this.repo.claim(userId);
    if (user && !user.purgeStartedAt)
      return { ...report, skipped: user.deleteAfter ? 'not due' : 'not scheduled', ms: Date.now() - started };

    const running: RunningJob[] = [];
    if (user) {
      for (;;) {
        const batch = await this.repo.uploadBatch(userId, PURGE_BATCH);
        if (!batch.length) break;
        const uploadIds = batch.map((u) => u.id);
        const analysisIds = await this.repo.analysisIds(uploadIds);
        const analysisJobs = await this.jobs.remove(QUEUES.analysis, analysisIds);
        running.push(...analysisJobs.running);
        report.jobs += analysisJobs.removed;
        report.objects += await this.storage.deleteUploadFiles(userId, batch);
        await this.repo.deleteUploads(uploadIds);
        // Completed results are cached by analysis id (the key does not name the user).
        if (analysisIds.length) await this.cache.del(...analysisIds.map(analysisResultKey));
        report.uploads += batch.length;
        report.analyses += analysisIds.length;
        await onProgress?.(report.uploads);
      }
      const exportJobs = await this.jobs.remove(QUEUES.exports, await this.repo.exportIds(userId));
      running.push(...exportJobs.running);
      report.jobs += exportJobs.removed;
      report.exports = await this.repo.deleteExports(userId);
      // What a running job writes before it notices its rows are gone lands under the prefixes swept below.
      await this.jobs.waitFor(running);
      report.refreshTokens = await this.repo.deleteRefreshTokens(userId);
    }
    report.objects += await this.storage.sweepPrefixes(userId);
    report.tusUploads = await this.storage.removeTusUploads(userId);
    if (user) report.userDeleted = await this.repo.deleteUser(userId);
    // Last: until the row is gone, a request with an old token could cache the (inactive) user again.
    report.redisKeys = await this.redis.purgeUser(userId);
    report.ms = Date.now() - started;
    if (!nothingDone(report))
      this.logger.log(
        `user ${userId} purged in ${report.ms} ms: ${report.uploads} uploads, ${report.analyses} analyses, ` +
          `${report.objects} storage deletes, ${report.tusUploads} unfinished tus uploads, ` +
          `${report.refreshTokens} refresh tokens, ${report.jobs} queued jobs, ${report.redisKeys} Redis keys`,
      );
    return report;
  }
}
