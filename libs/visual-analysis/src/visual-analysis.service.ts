import { BadRequestException, Injectable, Logger, NotFoundException } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CacheService } from '@echo/cache';
import { onPrimary, replicaOrPrimary, transactional, withReadConnection } from '@echo/database';
import { recordAudit, SYSTEM_AUDIT, type AuditContext } from '@echo/audit-log';
import { FieldErrorsException } from '@echo/http';
import {
  listCountKey,
  pageCacheKey,
  PAGE_CACHE_TTL_MS,
  revivePage,
  type PageRequest,
  type PageResult,
} from '@echo/pagination';
import { NearDuplicates, UploadsRepository } from '@echo/uploads';
import { AnalysesRepository } from './analyses.repository.js';
import { AnalysisLists, analysisListGroup } from './analysis-lists.js';
import { analysisResultKey } from './analysis-result-key.js';
import { AnalysisDispatcher } from './queue/analysis-dispatcher.js';
import { AnalysisEventsPublisher } from './events/analysis-events.publisher.js';
import {
  toAdminAnalysisResponse,
  toAnalysisResponse,
  withNearDuplicates,
  type AdminAnalysisResponse,
  type AnalysisResponse,
} from './analysis.response.js';
import type { AdminAnalysisQueryDto, AnalysisQueryDto } from './dto/analysis.dto.js';

/** Re-analysis history kept per upload (the newest, the pending one included). */
export const KEPT_PER_UPLOAD = 5;
/** Stuck analyses the reconciler looks at per run. */
const RECONCILE_BATCH = 500;

/** The analysis use cases (an upload's first analysis: upload-link/UploadLifecycleListener). */
@Injectable()
export class VisualAnalysisService {
  private readonly logger = new Logger('VisualAnalysis');

  constructor(
    private readonly analyses: AnalysesRepository,
    private readonly uploads: UploadsRepository,
    private readonly dispatcher: AnalysisDispatcher,
    private readonly cache: CacheService,
    private readonly lists: AnalysisLists,
    private readonly events: AnalysisEventsPublisher,
    private readonly dataSource: DataSource,
    private readonly nearDuplicates: NearDuplicates,
  ) {}

  /**
   * Pages are cached per user under a version that every status change bumps (AnalysisLists); a
   * page missing from it is one statement, its list's total kept under the same version, plus one
   * read of the owner's hashes for the page's near-duplicates. That version moves whenever they
   * can change: an analysis completing (a new hash) and an upload's deletion (its analyses go).
   */
  async list(userId: number, query: AnalysisQueryDto, page: PageRequest): Promise<PageResult<AnalysisResponse>> {
    const group = analysisListGroup(userId);
    const filters = { status: query.status, upload_id: query.upload_id };
    const key = await this.cache.versioned(group, pageCacheKey(page, filters));
    const cached = await this.cache.getOrSet(
      key,
      async () => {
        const countKey = await listCountKey(this.cache, group, filters);
        const known = page.mode === 'page' ? await this.cache.get<number>(countKey) : undefined;
        const result = await withReadConnection(this.dataSource, async (manager) => {
          const rows = await this.analyses.userPage(manager, userId, query, page, known);
          const near = await this.nearDuplicates.lists(
            rows.items.map((a) => ({ userId, uploadId: a.upload_id, phash: a.result?.phash })),
            manager,
          );
          return { ...rows, items: rows.items.map((a, i) => withNearDuplicates(a, near[i])) };
        });
        if (known === undefined && result.mode === 'page')
          await this.cache.set(countKey, result.count, PAGE_CACHE_TTL_MS);
        return result;
      },
      PAGE_CACHE_TTL_MS,
    );
    return revivePage(cached);
  }

  /**
   * Admin: anyone's analyses (the console's failed and stuck lists, an upload's history). Not
   * cached: admins act on these rows (retry) and want to see the change at once.
   */
  adminList(
    query: AdminAnalysisQueryDto,
    page: PageRequest,
    stuckAfterMs: number,
  ): Promise<PageResult<AdminAnalysisResponse>> {
    return withReadConnection(this.dataSource, async (manager) => {
      const result = await this.analyses.adminPage(manager, query, page, new Date(Date.now() - stuckAfterMs));
      // One hash read for the owners on the page.
      const near = await this.nearDuplicates.lists(
        result.items.map((a) => ({ userId: a.userId, uploadId: a.uploadId, phash: a.result?.phash })),
        manager,
      );
      return { ...result, items: result.items.map((a, i) => toAdminAnalysisResponse(a, near[i])) };
    });
  }

  /**
   * Completed results never change: they are served from the cache. Their near-duplicates do
   * (other uploads come and go): read for each answer, kept under the owner's upload-list version.
   */
  async get(userId: number, id: string): Promise<AnalysisResponse> {
    return this.withCurrentNearDuplicates(userId, await this.stored(userId, id));
  }

  private async stored(userId: number, id: string): Promise<AnalysisResponse> {
    const cached = await this.cache.get<AnalysisResponse & { user_id: number }>(analysisResultKey(id));
    if (cached && cached.user_id === userId) {
      const { user_id: _, ...body } = cached;
      return body;
    }
    // A replica may not have an analysis created a moment ago: a miss is looked up on the primary.
    const row = await replicaOrPrimary(this.dataSource, () => this.analyses.findOwn(userId, id));
    if (!row) throw new NotFoundException();
    const body = toAnalysisResponse(row);
    if (row.status === 'completed') await this.cache.set(analysisResultKey(id), { ...body, user_id: userId });
    return body;
  }

  private async withCurrentNearDuplicates(userId: number, analysis: AnalysisResponse): Promise<AnalysisResponse> {
    if (!analysis.result) return analysis;
    const near = await this.nearDuplicates.of({ userId, uploadId: analysis.upload_id, phash: analysis.result.phash });
    return withNearDuplicates(analysis, near);
  }

  /**
   * Re-analysis: a pending analysis of the upload is returned as is; otherwise a new one is queued.
   * `beforeCreate` runs only when one is about to be created (the caller's quota: a call answered
   * with the pending analysis costs nothing); what it throws aborts the call, nothing written.
   *
   * One pending analysis per upload holds under concurrency because the check and the insert run
   * in one transaction behind a lock on the upload's row (`lockUpload`; on SQLite `transactional`
   * runs transactions one at a time). A lock rather than a unique "pending slot" column: no
   * migration over tables that may already hold duplicate pending rows, the worker's status
   * transitions stay single-row updates that need not maintain a slot, and the only writes that
   * make an analysis pending after intake (this and `retry`) both take the lock. Intake needs none:
   * the upload's first analysis commits with the upload, which nobody else can see before that.
   */
  async reanalyze(
    userId: number,
    uploadId: string,
    beforeCreate: () => Promise<void> = async () => undefined,
  ): Promise<AnalysisResponse> {
    let charged = false;
    const outcome = await transactional(this.dataSource, async (manager) => {
      // The lock first: on InnoDB the snapshot of plain reads starts at the first one, which must
      // come after the lock so it sees what the previous holder committed.
      const upload = await this.analyses.lockUpload(manager, uploadId);
      if (!upload || upload.userId !== userId)
        throw new FieldErrorsException({ upload_id: ['No upload with this id.'] });
      const pending = await this.analyses.findPending(uploadId, manager);
      if (pending) return { row: pending, created: false, pruned: [] as string[] };
      // Once per call, not per attempt: a deadlock retry of this callback must not count twice.
      if (!charged) {
        await beforeCreate();
        charged = true;
      }
      const row = this.analyses.newQueued(upload);
      await this.analyses.insert(row, manager);
      // An upload keeps its latest KEPT_PER_UPLOAD analyses (finished ones beyond that are deleted).
      const pruned = await this.analyses.pruneFinished(uploadId, KEPT_PER_UPLOAD, manager);
      return { row, created: true, pruned };
    });
    const { row } = outcome;
    if (outcome.created) {
      // After the commit: caches, events and the queue only ever hear of committed rows.
      await Promise.all(outcome.pruned.map((id) => this.cache.del(analysisResultKey(id))));
      await this.lists.changed(userId);
      await this.events.changed(row);
      await this.dispatch(row.id);
    }
    return toAnalysisResponse(row);
  }

  /**
   * Admin: a failed analysis goes back to the queue, unless its upload has another pending
   * analysis by now (a re-analysis): one pending analysis per upload, under the same lock as
   * `reanalyze`.
   */
  async retry(id: string, audit: AuditContext = SYSTEM_AUDIT): Promise<AnalysisResponse> {
    // Found outside the transaction: on InnoDB the first plain read starts the snapshot every
    // later plain read sees, so the lock must come before it (or the re-read below is stale).
    const found = await onPrimary(this.dataSource, () => this.analyses.findById(id));
    if (!found) throw new NotFoundException();
    const queued = await transactional(this.dataSource, async (manager) => {
      await this.analyses.lockUpload(manager, found.uploadId);
      // Read again under the lock: a concurrent retry or deletion may have changed it.
      const row = await this.analyses.findById(id, manager);
      if (!row) throw new NotFoundException();
      if (row.status !== 'failed')
        throw new BadRequestException(`Only failed analyses can be retried; this one is ${row.status}.`);
      const pending = await this.analyses.findPending(row.uploadId, manager);
      if (pending)
        throw new BadRequestException(
          `This upload already has a pending analysis (${pending.id}); retry once it has finished.`,
        );
      await this.analyses.requeueFailed(id, manager);
      await recordAudit(manager, audit, {
        action: 'analysis.retry',
        targetType: 'analysis',
        targetId: id,
        targetLabel: `upload ${row.uploadId}`,
        changes: { status: [row.status, 'queued'], error: [row.error, null] },
      });
      return { ...row, status: 'queued' as const, error: null, progress: 0, completedAt: null };
    });
    await this.lists.changed(queued.userId);
    await this.events.changed(queued);
    await this.dispatcher.requeue(id);
    return toAnalysisResponse(queued);
  }

  queueCounts(): Promise<Record<string, Record<string, number>>> {
    return this.dispatcher.counts();
  }

  /** Per queue, seconds its next waiting job has waited (0: none), for the metrics. */
  queueOldestWaiting(): Promise<Record<string, number>> {
    return this.dispatcher.oldestWaiting();
  }

  /**
   * Re-enqueues analyses left queued or processing past ANALYSIS_STUCK_AFTER_SECONDS whose job is
   * gone (Redis flushed, crash between commit and enqueue, job given up as stalled).
   */
  async reconcile(stuckAfterMs: number): Promise<number> {
    // On the primary: a lagging replica would show finished analyses as stuck.
    const stuck = await onPrimary(this.dataSource, () =>
      this.analyses.stuckIds(new Date(Date.now() - stuckAfterMs), RECONCILE_BATCH),
    );
    let requeued = 0;
    for (const id of stuck) {
      if (await this.dispatcher.isPending(id)) continue;
      await this.dispatcher.requeue(id);
      requeued++;
    }
    if (requeued) this.logger.warn(`reconciler re-enqueued ${requeued} analyses`);
    return requeued;
  }

  private async dispatch(id: string): Promise<void> {
    // The row is committed: if Redis is away now, the reconciler enqueues it later.
    await this.dispatcher
      .enqueue(id)
      .catch((err: Error) => this.logger.warn(`enqueue of ${id} deferred: ${err.message}`));
  }
}
