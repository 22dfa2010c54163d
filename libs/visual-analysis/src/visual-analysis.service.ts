import { randomUUID } from 'node:crypto';
import { BadRequestException, Injectable, Logger, NotFoundException, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, In, LessThan, type EntityManager, type Repository } from 'typeorm';
import { CacheService } from '@echo/cache';
import { onPrimary, replicaOrPrimary, withReadConnection } from '@echo/database';
import { FieldErrorsException } from '@echo/http';
import { paginate, pageCacheKey, PAGE_CACHE_TTL_MS, revivePage, type PageRequest, type PageResult } from '@echo/pagination';
import { Upload, UploadHooks, type AnalysisSummary, type UploadListener } from '@echo/uploads';
import { ANALYZER_VERSION } from './analyzer/version.js';
import { VisualAnalysis } from './visual-analysis.entity.js';
import { AnalysisLists, analysisListGroup } from './analysis-lists.js';
import { AnalysisDispatcher } from './queue/analysis-dispatcher.js';
import { AnalysisEventsPublisher } from './events/analysis-events.publisher.js';
import { toAdminAnalysisResponse, toAnalysisResponse, type AdminAnalysisResponse, type AnalysisResponse } from './analysis.response.js';
import type { AdminAnalysisQueryDto, AnalysisQueryDto } from './dto/analysis.dto.js';

const PENDING = ['queued', 'processing'] as const;
const resultKey = (id: string) => `analysis:${id}`;
/** Re-analysis history kept per upload (the newest, the pending one included). */
export const KEPT_PER_UPLOAD = 5;

@Injectable()
export class VisualAnalysisService implements UploadListener, OnModuleInit {
  private readonly logger = new Logger('VisualAnalysis');
  /** The analysis created in an upload's transaction, for its post-commit enqueue. */
  private readonly createdFor = new WeakMap<Upload, VisualAnalysis>();

  constructor(
    @InjectRepository(VisualAnalysis) private readonly analyses: Repository<VisualAnalysis>,
    @InjectRepository(Upload) private readonly uploads: Repository<Upload>,
    private readonly dispatcher: AnalysisDispatcher,
    private readonly cache: CacheService,
    private readonly hooks: UploadHooks,
    private readonly lists: AnalysisLists,
    private readonly events: AnalysisEventsPublisher,
    private readonly dataSource: DataSource,
  ) {}

  onModuleInit(): void {
    this.hooks.register(this);
  }

  // --- UploadListener: every new upload gets its analysis in the same transaction ---

  async created(em: EntityManager, upload: Upload): Promise<void> {
    const row = this.newRow(upload);
    await em.getRepository(VisualAnalysis).insert(row);
    this.createdFor.set(upload, row);
  }

  async committed(upload: Upload): Promise<void> {
    const row = this.createdFor.get(upload);
    if (!row) return;
    // Announced before the job exists, so `queued` always precedes the worker's `processing`.
    await this.events.changed(row);
    await this.dispatcher.enqueue(row.id);
  }

  /** The upload's analyses go with it; their cached results are evicted once that committed. */
  async deleting(em: EntityManager, upload: Upload): Promise<() => Promise<void>> {
    const repo = em.getRepository(VisualAnalysis);
    const ids = (await repo.find({ select: { id: true }, where: { uploadId: upload.id } })).map((row) => row.id);
    if (ids.length) await repo.delete({ id: In(ids) });
    return async () => {
      await Promise.all(ids.map((id) => this.cache.del(resultKey(id))));
      await this.lists.changed(upload.userId);
    };
  }

  async summaries(uploadIds: string[], manager?: EntityManager): Promise<Map<string, AnalysisSummary>> {
    const rows = await (manager ?? this.analyses.manager).getRepository(VisualAnalysis).find({
      select: { id: true, uploadId: true, status: true, createdAt: true },
      where: { uploadId: In(uploadIds) },
      order: { createdAt: 'DESC' },
    });
    const latest = new Map<string, AnalysisSummary>();
    for (const row of rows) if (!latest.has(row.uploadId)) latest.set(row.uploadId, { id: row.id, status: row.status });
    return latest;
  }

  // --- API ---

  /** Pages are cached per user under a version that every status change bumps (AnalysisLists). */
  async list(userId: number, query: AnalysisQueryDto, page: PageRequest): Promise<PageResult<AnalysisResponse>> {
    const key = await this.cache.versioned(analysisListGroup(userId), pageCacheKey(page, query));
    const cached = await this.cache.getOrSet(
      key,
      () =>
        withReadConnection(this.dataSource, async (manager) => {
          const qb = manager.getRepository(VisualAnalysis).createQueryBuilder('va').where('va.userId = :userId', { userId });
          if (query.status) qb.andWhere('va.status = :status', { status: query.status });
          if (query.upload_id) qb.andWhere('va.uploadId = :uploadId', { uploadId: query.upload_id });
          const result = await paginate(qb, page);
          return { ...result, items: result.items.map(toAnalysisResponse) };
        }),
      PAGE_CACHE_TTL_MS,
    );
    return revivePage(cached);
  }

  /**
   * Admin: anyone's analyses (the console's failed and stuck lists, an upload's history). Not
   * cached: admins act on these rows (retry) and want to see the change at once.
   */
  adminList(query: AdminAnalysisQueryDto, page: PageRequest, stuckAfterMs: number): Promise<PageResult<AdminAnalysisResponse>> {
    return withReadConnection(this.dataSource, async (manager) => {
      const qb = manager.getRepository(VisualAnalysis).createQueryBuilder('va');
      if (query.status === 'stuck') {
        const cutoff = new Date(Date.now() - stuckAfterMs);
        qb.andWhere("((va.status = 'queued' AND va.createdAt < :cutoff) OR (va.status = 'processing' AND va.startedAt < :cutoff))", { cutoff });
      } else if (query.status) {
        qb.andWhere('va.status = :status', { status: query.status });
      }
      if (query.upload_id) qb.andWhere('va.uploadId = :uploadId', { uploadId: query.upload_id });
      if (query.upload_ids?.length) qb.andWhere('va.uploadId IN (:...uploadIds)', { uploadIds: query.upload_ids });
      if (query.user_id) qb.andWhere('va.userId = :userId', { userId: query.user_id });
      const result = await paginate(qb, page);
      return { ...result, items: result.items.map(toAdminAnalysisResponse) };
    });
  }

  /** Completed results never change: they are served from the cache. */
  async get(userId: number, id: string): Promise<AnalysisResponse> {
    const cached = await this.cache.get<AnalysisResponse & { user_id: number }>(resultKey(id));
    if (cached && cached.user_id === userId) {
      const { user_id: _, ...body } = cached;
      return body;
    }
    // A replica may not have an analysis created a moment ago: a miss is looked up on the primary.
    const row = await replicaOrPrimary(this.analyses.manager.dataSource, () => this.analyses.findOne({ where: { id, userId } }));
    if (!row) throw new NotFoundException();
    const body = toAnalysisResponse(row);
    if (row.status === 'completed') await this.cache.set(resultKey(id), { ...body, user_id: userId });
    return body;
  }

  /**
   * Re-analysis: a pending analysis of the upload is returned as is; otherwise a new one is queued.
   * Read on the primary: the upload may have just been made, and the reads decide the insert.
   */
  reanalyze(userId: number, uploadId: string): Promise<AnalysisResponse> {
    return onPrimary(this.analyses.manager.dataSource, () => this.reanalyzeOnPrimary(userId, uploadId));
  }

  private async reanalyzeOnPrimary(userId: number, uploadId: string): Promise<AnalysisResponse> {
    const upload = await this.uploads.findOne({ where: { id: uploadId, userId }, select: { id: true, userId: true } });
    if (!upload) throw new FieldErrorsException({ upload_id: ['No upload with this id.'] });
    const pending = await this.analyses.findOne({ where: { uploadId, status: In([...PENDING]) }, order: { createdAt: 'DESC' } });
    if (pending) return toAnalysisResponse(pending);
    const row = this.newRow(upload);
    await this.analyses.insert(row);
    await this.pruneHistory(uploadId);
    await this.lists.changed(userId);
    await this.events.changed(row);
    await this.dispatch(row.id);
    return toAnalysisResponse(row);
  }

  /** An upload keeps its latest KEPT_PER_UPLOAD analyses (finished ones beyond that are deleted). */
  private async pruneHistory(uploadId: string): Promise<void> {
    const old = await this.analyses.find({
      select: { id: true },
      where: { uploadId, status: In(['completed', 'failed']) },
      order: { createdAt: 'DESC', id: 'DESC' },
      skip: KEPT_PER_UPLOAD - 1,
      take: 100,
    });
    if (!old.length) return;
    const ids = old.map((row) => row.id);
    await this.analyses.delete({ id: In(ids), status: In(['completed', 'failed']) });
    await Promise.all(ids.map((id) => this.cache.del(resultKey(id))));
  }

  /** Admin: a failed analysis goes back to the queue. */
  async retry(id: string): Promise<AnalysisResponse> {
    const row = await onPrimary(this.analyses.manager.dataSource, () => this.analyses.findOne({ where: { id } }));
    if (!row) throw new NotFoundException();
    if (row.status !== 'failed') throw new BadRequestException(`Only failed analyses can be retried; this one is ${row.status}.`);
    const queued = { ...row, status: 'queued' as const, error: null, progress: 0, completedAt: null };
    await this.analyses.update({ id, status: 'failed' }, { status: 'queued', error: null, progress: 0, completedAt: null });
    await this.lists.changed(row.userId);
    await this.events.changed(queued);
    await this.dispatcher.requeue(id);
    return toAnalysisResponse(queued);
  }

  queueCounts(): Promise<Record<string, Record<string, number>>> {
    return this.dispatcher.counts();
  }

  /**
   * Re-enqueues analyses left queued or processing past ANALYSIS_STUCK_AFTER_SECONDS whose job is
   * gone (Redis flushed, crash between commit and enqueue, job given up as stalled).
   */
  async reconcile(stuckAfterMs: number): Promise<number> {
    const cutoff = new Date(Date.now() - stuckAfterMs);
    // On the primary: a lagging replica would show finished analyses as stuck.
    const stuck = await onPrimary(this.analyses.manager.dataSource, () => this.analyses.find({
      select: { id: true },
      where: [
        { status: 'queued', createdAt: LessThan(cutoff) },
        { status: 'processing', startedAt: LessThan(cutoff) },
      ],
      order: { createdAt: 'ASC' },
      take: 500,
    }));
    let requeued = 0;
    for (const { id } of stuck) {
      if (await this.dispatcher.isPending(id)) continue;
      await this.dispatcher.requeue(id);
      requeued++;
    }
    if (requeued) this.logger.warn(`reconciler re-enqueued ${requeued} analyses`);
    return requeued;
  }

  private async dispatch(id: string): Promise<void> {
    // The row is committed: if Redis is away now, the reconciler enqueues it later.
    await this.dispatcher.enqueue(id).catch((err: Error) => this.logger.warn(`enqueue of ${id} deferred: ${err.message}`));
  }

  private newRow(upload: Pick<Upload, 'id' | 'userId'>): VisualAnalysis {
    return this.analyses.create({
      id: randomUUID(),
      uploadId: upload.id,
      userId: upload.userId,
      status: 'queued',
      progress: 0,
      attempts: 0,
      error: null,
      result: null,
      phash: null,
      analyzerVersion: ANALYZER_VERSION,
      createdAt: new Date(),
      startedAt: null,
      completedAt: null,
    });
  }
}
