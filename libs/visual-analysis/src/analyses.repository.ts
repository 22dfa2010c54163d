import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, LessThan, type EntityManager, type Repository } from 'typeorm';
import { isMysql, sqlReader } from '@echo/database';
import { pageBySql, paginate, type PageRequest, type PageResult } from '@echo/pagination';
import { Upload, type AnalysisSummary, type LatestAnalysisSql, type LatestAnalysisStatus } from '@echo/uploads';
import { ANALYZER_VERSION } from './analyzer/version.js';
import { VisualAnalysis } from './visual-analysis.entity.js';
import type { AdminAnalysisQueryDto, AnalysisQueryDto } from './dto/analysis.dto.js';
import { ANALYSIS_COLUMNS, analysisFromRow, type AnalysisResponse, type AnalysisRow } from './analysis.response.js';

const PENDING = ['queued', 'processing'] as const;
const FINISHED = ['completed', 'failed'] as const;

/**
 * Every query on visual_analysis_results. Reads go where the caller's scope sends them
 * (`onPrimary`, `replicaOrPrimary`, a `withReadConnection` manager); writes inside an upload's
 * transaction take its manager.
 */
@Injectable()
export class AnalysesRepository {
  constructor(@InjectRepository(VisualAnalysis) private readonly analyses: Repository<VisualAnalysis>) {}

  /** A new queued analysis of the upload (not yet written). */
  newQueued(upload: Pick<Upload, 'id' | 'userId'>): VisualAnalysis {
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

  async insert(row: VisualAnalysis, manager: EntityManager = this.analyses.manager): Promise<void> {
    await manager.getRepository(VisualAnalysis).insert(row);
  }

  /** Latest analysis per upload id, one query for a whole page. */
  async latestPerUpload(
    uploadIds: readonly string[],
    manager: EntityManager = this.analyses.manager,
  ): Promise<Map<string, AnalysisSummary>> {
    const rows = await manager.getRepository(VisualAnalysis).find({
      select: { id: true, uploadId: true, status: true, createdAt: true },
      where: { uploadId: In([...uploadIds]) },
      order: { createdAt: 'DESC' },
    });
    const latest = new Map<string, AnalysisSummary>();
    for (const row of rows) if (!latest.has(row.uploadId)) latest.set(row.uploadId, { id: row.id, status: row.status });
    return latest;
  }

  /**
   * The latest analysis of each upload of a hand-written page (uploads aliased `uploadAlias`):
   * one probe of ix_var_upload_created per page row, newest (created_at, id) first.
   */
  latestJoin(uploadAlias: string): LatestAnalysisSql {
    return {
      select: 'latest.id AS analysis_id, latest.status AS analysis_status',
      join:
        'LEFT JOIN visual_analysis_results latest ON latest.id = (SELECT newest.id FROM visual_analysis_results newest ' +
        `WHERE newest.upload_id = ${uploadAlias}.id ORDER BY newest.created_at DESC, newest.id DESC LIMIT 1)`,
      statusIs: (status, ownerId) => latestStatusIs(uploadAlias, status, ownerId),
    };
  }

  /** Deletes the upload's analyses (inside its deletion's transaction); returns their ids. */
  async deleteOfUpload(manager: EntityManager, uploadId: string): Promise<string[]> {
    const repo = manager.getRepository(VisualAnalysis);
    const ids = (await repo.find({ select: { id: true }, where: { uploadId } })).map((row) => row.id);
    if (ids.length) await repo.delete({ id: In(ids) });
    return ids;
  }

  /**
   * The user's analyses, filtered, on the listing's connection: one hand-written statement (see
   * pageBySql), rows straight to the wire shape. `knownCount`: the list's total for this version.
   */
  async userPage(
    manager: EntityManager,
    userId: number,
    query: AnalysisQueryDto,
    page: PageRequest,
    knownCount?: number,
  ): Promise<PageResult<AnalysisResponse>> {
    const db = sqlReader(manager);
    const where = ['va.user_id = ?'];
    const params: unknown[] = [userId];
    if (query.status) {
      where.push('va.status = ?');
      params.push(query.status);
    }
    if (query.upload_id) {
      where.push('va.upload_id = ?');
      params.push(query.upload_id);
    }
    const result = await pageBySql<AnalysisRow>(
      db,
      { table: 'visual_analysis_results va', alias: 'va', where, params, select: ANALYSIS_COLUMNS },
      page,
      knownCount,
    );
    const at = (value: unknown) => (value === null || value === undefined ? null : db.date(value).toISOString());
    return { ...result, items: result.items.map((row) => analysisFromRow(row, at)) };
  }

  /** Anyone's analyses; `stuck`: queued or processing since before `stuckCutoff`. */
  adminPage(
    manager: EntityManager,
    query: AdminAnalysisQueryDto,
    page: PageRequest,
    stuckCutoff: Date,
  ): Promise<PageResult<VisualAnalysis>> {
    const qb = manager.getRepository(VisualAnalysis).createQueryBuilder('va');
    if (query.status === 'stuck') {
      qb.andWhere(
        "((va.status = 'queued' AND va.createdAt < :cutoff) OR (va.status = 'processing' AND va.startedAt < :cutoff))",
        { cutoff: stuckCutoff },
      );
    } else if (query.status) {
      qb.andWhere('va.status = :status', { status: query.status });
    }
    if (query.upload_id) qb.andWhere('va.uploadId = :uploadId', { uploadId: query.upload_id });
    if (query.upload_ids?.length) qb.andWhere('va.uploadId IN (:...uploadIds)', { uploadIds: query.upload_ids });
    if (query.user_id) qb.andWhere('va.userId = :userId', { userId: query.user_id });
    return paginate(qb, page);
  }

  findById(id: string, manager: EntityManager = this.analyses.manager): Promise<VisualAnalysis | null> {
    return manager.getRepository(VisualAnalysis).findOne({ where: { id } });
  }

  findOwn(userId: number, id: string): Promise<VisualAnalysis | null> {
    return this.analyses.findOne({ where: { id, userId } });
  }

  /** The upload's newest queued or processing analysis. */
  findPending(uploadId: string, manager: EntityManager = this.analyses.manager): Promise<VisualAnalysis | null> {
    return manager
      .getRepository(VisualAnalysis)
      .findOne({ where: { uploadId, status: In([...PENDING]) }, order: { createdAt: 'DESC' } });
  }

  /**
   * Inside a transaction: the upload (id, owner), its row locked FOR UPDATE on MySQL/MariaDB.
   * Every write that makes an analysis pending after intake (re-analysis, admin retry) takes this
   * lock first, so "one pending analysis per upload" is checked and kept by one writer at a time.
   * SQLite needs no lock: `transactional` runs its transactions one at a time. Null when gone.
   */
  lockUpload(manager: EntityManager, uploadId: string): Promise<Pick<Upload, 'id' | 'userId'> | null> {
    return manager.getRepository(Upload).findOne({
      select: { id: true, userId: true },
      where: { id: uploadId },
      ...(isMysql(manager.dataSource) ? { lock: { mode: 'pessimistic_write' as const } } : {}),
    });
  }

  /** Deletes the upload's finished analyses beyond the newest `keep - 1` (a pending one is the keep-th); returns their ids. */
  async pruneFinished(
    uploadId: string,
    keep: number,
    manager: EntityManager = this.analyses.manager,
  ): Promise<string[]> {
    const repo = manager.getRepository(VisualAnalysis);
    const old = await repo.find({
      select: { id: true },
      where: { uploadId, status: In([...FINISHED]) },
      order: { createdAt: 'DESC', id: 'DESC' },
      skip: keep - 1,
      take: 100,
    });
    const ids = old.map((row) => row.id);
    if (ids.length) await repo.delete({ id: In(ids), status: In([...FINISHED]) });
    return ids;
  }

  /** failed → queued (admin retry); only a row still failed changes. */
  async requeueFailed(id: string, manager: EntityManager = this.analyses.manager): Promise<void> {
    await manager
      .getRepository(VisualAnalysis)
      .update({ id, status: 'failed' }, { status: 'queued', error: null, progress: 0, completedAt: null });
  }

  /** Queued or processing since before `cutoff`, oldest first. */
  async stuckIds(cutoff: Date, limit: number): Promise<string[]> {
    const rows = await this.analyses.find({
      select: { id: true },
      where: [
        { status: 'queued', createdAt: LessThan(cutoff) },
        { status: 'processing', startedAt: LessThan(cutoff) },
      ],
      order: { createdAt: 'ASC' },
      take: limit,
    });
    return rows.map((row) => row.id);
  }

  // --- the runner's writes: each guarded by the status it expects, so a stale run changes nothing ---

  async markProcessing(id: string): Promise<void> {
    await this.analyses.update(
      { id },
      { status: 'processing', startedAt: new Date(), attempts: () => 'attempts + 1', progress: 0 },
    );
  }

  async setProgress(id: string, progress: number): Promise<void> {
    await this.analyses.update({ id, status: 'processing' }, { progress });
  }

  /** processing → completed; false when another run got there first. */
  async complete(
    id: string,
    fields: Pick<VisualAnalysis, 'progress' | 'error' | 'result' | 'phash'>,
    manager: EntityManager = this.analyses.manager,
  ): Promise<boolean> {
    const done = await manager
      .getRepository(VisualAnalysis)
      .update({ id, status: 'processing' }, { ...fields, status: 'completed', completedAt: new Date() });
    return Boolean(done.affected);
  }

  /** processing → queued with the attempt's error (a retry follows). */
  async backToQueue(id: string, error: string): Promise<void> {
    await this.analyses.update({ id, status: 'processing' }, { status: 'queued', error });
  }

  async fail(id: string, error: string): Promise<void> {
    await this.analyses.update({ id }, { status: 'failed', error, completedAt: new Date() });
  }
}

/**
 * Uploads (aliased `uploadAlias`) whose latest analysis — newest (created_at, id), as latestJoin
 * picks it — has `status`. One condition of the listing's own statement, in the shape that suits
 * how many uploads match (EXPLAINed in test/admin-uploads-status.test.ts):
 * - `completed`, the state of nearly every upload: the listing's ordering index drives and each
 *   upload read probes ix_var_upload_created, so a page stops after about page_size uploads;
 * - `queued`, `processing`, `failed`, few by nature: the ids come from the analyses in that status
 *   (ix_var_status_created, or ix_var_user_status_created for one owner), each kept only if no
 *   newer analysis of its upload exists (a probe of ix_var_upload_created); the uploads are then
 *   read by primary key and only that small set is sorted. Scanning the listing's index instead
 *   would read every upload to find the rare ones.
 */
function latestStatusIs(
  uploadAlias: string,
  status: LatestAnalysisStatus,
  ownerId?: number,
): { condition: string; params: unknown[] } {
  const newest =
    'SELECT newest.id FROM visual_analysis_results newest WHERE newest.upload_id = va.upload_id ' +
    'ORDER BY newest.created_at DESC, newest.id DESC LIMIT 1';
  if (status === 'completed')
    return {
      condition:
        `(SELECT va.status FROM visual_analysis_results va WHERE va.upload_id = ${uploadAlias}.id ` +
        'ORDER BY va.created_at DESC, va.id DESC LIMIT 1) = ?',
      params: [status],
    };
  const owner = ownerId === undefined ? '' : 'va.user_id = ? AND ';
  return {
    condition:
      `${uploadAlias}.id IN (SELECT va.upload_id FROM visual_analysis_results va ` +
      `WHERE ${owner}va.status = ? AND va.id = (${newest}))`,
    params: ownerId === undefined ? [status] : [ownerId, status],
  };
}
