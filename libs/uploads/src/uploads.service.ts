import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { HttpException, HttpStatus, Inject, Injectable, Logger, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, QueryFailedError, type Repository, type SelectQueryBuilder } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { onPrimary, replicaOrPrimary } from '@echo/database';
import { CacheService } from '@echo/cache';
import { paginate, pageCacheKey, PAGE_CACHE_TTL_MS, revivePage, type PageRequest, type PageResult } from '@echo/pagination';
import { STORAGE, TEMP_PREFIX, objectKey, thumbnailKey, type StorageDriver } from '@echo/storage';
import { User } from '@echo/users';
import { Upload } from './upload.entity.js';
import { UploadHooks } from './upload-hooks.js';
import { IntakeStream } from './intake/intake-stream.js';
import { readImageHeader } from './intake/image-header.js';
import { toUploadResponse, type AdminUploadResponse, type UploadResponse } from './upload.response.js';
import type { AdminUploadsQueryDto, UploadsQueryDto } from './dto/uploads-query.dto.js';

/** The cache version group of one user's upload listings (their analyses' status shows in them). */
export const uploadListGroup = (userId: number) => `uploads:${userId}`;

/** Bytes of the file kept in memory for the header check (dimensions); the rest only streams. */
const HEAD_BYTES = 256 * 1024;

/** A file streamed to storage under its temp key, not yet an upload. */
export interface StagedFile {
  id: string;
  tempKey: string;
  size: number;
  sha256: string;
  contentType: string;
  head: Buffer;
  originalName: string;
}

export class PayloadTooLargeException extends HttpException {
  constructor(detail: string) {
    super(detail, HttpStatus.PAYLOAD_TOO_LARGE);
  }
}

@Injectable()
export class UploadsService {
  private readonly logger = new Logger('Uploads');

  constructor(
    @InjectRepository(Upload) private readonly uploads: Repository<Upload>,
    private readonly dataSource: DataSource,
    private readonly hooks: UploadHooks,
    private readonly cache: CacheService,
    @Inject(STORAGE) private readonly storage: StorageDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Streams the file to storage under `tmp/<id>` while hashing it; nothing is kept in memory
   * but the header. Rejects (and removes what was written) as soon as the bytes are not an
   * accepted image, or the size limit is crossed.
   */
  async stage(file: Readable, originalName: string): Promise<StagedFile> {
    const id = randomUUID();
    const tempKey = `${TEMP_PREFIX}${id}`;
    const intake = new IntakeStream(HEAD_BYTES);
    // A source error (size limit, client abort) must reach storage.put, which then cleans up.
    file.on('error', (err) => intake.destroy(err));
    // The driver may attach its listeners after an await; until then an early rejection (wrong type)
    // must not surface as an unhandled 'error' event. The driver still sees it (stream.errored).
    intake.on('error', () => undefined);
    await this.storage.put(tempKey, file.pipe(intake));
    // @fastify/multipart with throwFileSizeLimit ends an oversize stream with an error; be sure.
    if ((file as Readable & { truncated?: boolean }).truncated) {
      await this.storage.delete(tempKey);
      throw tooLarge(this.config.uploads.maxBytes);
    }
    return { id, tempKey, size: intake.size, sha256: intake.digest(), contentType: intake.contentType!, head: intake.head(), originalName };
  }

  /**
   * Validates a staged file and makes it an upload (row and file together), or removes it. Its
   * reads (duplicate check, the response's analysis) are on the primary: they follow its writes.
   */
  commit(userId: number, staged: StagedFile, title: string): Promise<{ upload: UploadResponse; duplicate: boolean }> {
    return onPrimary(this.dataSource, () => this.commitOnPrimary(userId, staged, title));
  }

  private async commitOnPrimary(userId: number, staged: StagedFile, title: string): Promise<{ upload: UploadResponse; duplicate: boolean }> {
    try {
      const { width, height } = readImageHeader(staged.head, this.config.uploads.maxPixels);
      const existing = await this.uploads.findOne({ where: { userId, sha256: staged.sha256 } });
      if (existing) {
        await this.storage.delete(staged.tempKey);
        return { upload: await this.withAnalysis(existing), duplicate: true };
      }
      const upload = this.uploads.create({
        id: staged.id,
        userId,
        title,
        originalName: staged.originalName,
        contentType: staged.contentType,
        size: staged.size,
        sha256: staged.sha256,
        width,
        height,
        storageKey: objectKey(userId, staged.id),
        createdAt: new Date(),
      });
      try {
        await this.dataSource.transaction(async (em) => {
          await this.checkQuota(em.getRepository(Upload), userId, staged.size);
          await em.getRepository(Upload).insert(upload);
          await this.hooks.created(em, upload);
        });
      } catch (err) {
        if (isUniqueViolation(err)) {
          // The same bytes arrived concurrently: the other request won.
          const winner = await this.uploads.findOneOrFail({ where: { userId, sha256: staged.sha256 } });
          await this.storage.delete(staged.tempKey);
          return { upload: await this.withAnalysis(winner), duplicate: true };
        }
        throw err;
      }
      try {
        await this.storage.move(staged.tempKey, upload.storageKey);
      } catch (err) {
        await this.uploads.delete({ id: upload.id }); // row and file together or not at all
        throw err;
      }
      await this.cache.bump(uploadListGroup(userId));
      // After commit: enqueueing may fail (Redis away); the reconciler re-enqueues it later.
      await this.hooks.committed(upload).catch((err: Error) => this.logger.warn(`post-commit hook failed for ${upload.id}: ${err.message}`));
      return { upload: await this.withAnalysis(upload), duplicate: false };
    } catch (err) {
      await this.storage.delete(staged.tempKey).catch(() => undefined);
      throw err;
    }
  }

  async discard(staged: StagedFile | undefined): Promise<void> {
    if (staged) await this.storage.delete(staged.tempKey).catch(() => undefined);
  }

  /** Pages are cached per user, under a version bumped by every change to the user's uploads or their analyses. */
  async list(userId: number, query: UploadsQueryDto, page: PageRequest): Promise<PageResult<UploadResponse>> {
    const key = await this.cache.versioned(uploadListGroup(userId), `own:${pageCacheKey(page, query)}`);
    const cached = await this.cache.getOrSet(
      key,
      () => {
        const qb = this.uploads.createQueryBuilder('up').where('up.userId = :userId', { userId });
        applyFilters(qb, query);
        return paginate(qb, page).then((result) => this.toPage(result, false));
      },
      PAGE_CACHE_TTL_MS,
    );
    return revivePage(cached);
  }

  async adminList(query: AdminUploadsQueryDto, page: PageRequest, userId?: number): Promise<PageResult<AdminUploadResponse>> {
    if (userId === undefined) return this.adminListFromDb(query, page);
    // One user's uploads (the seed's admin_user_uploads): cached under that user's version.
    const key = await this.cache.versioned(uploadListGroup(userId), `admin:${pageCacheKey(page, query)}`);
    return revivePage(await this.cache.getOrSet(key, () => this.adminListFromDb(query, page, userId), PAGE_CACHE_TTL_MS));
  }

  private async adminListFromDb(query: AdminUploadsQueryDto, page: PageRequest, userId?: number): Promise<PageResult<AdminUploadResponse>> {
    if (userId !== undefined && !(await this.dataSource.getRepository(User).exists({ where: { id: userId } }))) throw new NotFoundException();
    const qb = this.uploads.createQueryBuilder('up').innerJoin('up.user', 'owner').addSelect(['owner.id', 'owner.username']);
    const owner = userId ?? query.user_id;
    if (owner !== undefined) qb.andWhere('up.userId = :owner', { owner });
    applyFilters(qb, query);
    return this.toPage(await paginate(qb, page), true) as Promise<PageResult<AdminUploadResponse>>;
  }

  /**
   * The user's own upload; another user's id is 404, not 403 (ids are not confirmed to exist).
   * From a replica; one the replica does not have yet (just uploaded) is looked up on the primary.
   */
  async findOwn(userId: number, id: string): Promise<Upload> {
    const upload = await replicaOrPrimary(this.dataSource, () => this.uploads.findOne({ where: { id, userId } }));
    if (!upload) throw new NotFoundException();
    return upload;
  }

  async get(userId: number, id: string): Promise<UploadResponse> {
    return this.withAnalysis(await this.findOwn(userId, id));
  }

  openFile(upload: Upload, range?: { start: number; end: number }): Promise<Readable> {
    return this.storage.get(upload.storageKey, range);
  }

  async openThumbnail(upload: Upload): Promise<{ stream: Readable; size: number } | undefined> {
    const key = thumbnailKey(upload.userId, upload.id);
    const stat = await this.storage.stat(key);
    return stat ? { stream: await this.storage.get(key), size: stat.size } : undefined;
  }

  /** Row first (analyses go with it by cascade), then the files: the database stays the truth. */
  async delete(userId: number, id: string): Promise<void> {
    const upload = await onPrimary(this.dataSource, () => this.findOwn(userId, id));
    await this.uploads.delete({ id: upload.id, userId });
    await this.cache.bump(uploadListGroup(userId));
    await Promise.all([this.storage.delete(upload.storageKey), this.storage.delete(thumbnailKey(upload.userId, upload.id))]);
  }

  /**
   * Temp objects older than an hour: a crashed intake (removed) or one whose row committed but
   * whose move did not happen (completed now).
   */
  async sweepOrphans(olderThan = new Date(Date.now() - 3600_000)): Promise<{ removed: number; recovered: number }> {
    let removed = 0;
    let recovered = 0;
    for await (const key of this.storage.listOlderThan(TEMP_PREFIX, olderThan)) {
      const id = key.slice(TEMP_PREFIX.length);
      // On the primary: a lagging replica must never make a committed upload's file look orphaned.
      const row = /^[0-9a-f-]{36}$/.test(id) ? await onPrimary(this.dataSource, () => this.uploads.findOne({ where: { id } })) : null;
      if (row && !(await this.storage.stat(row.storageKey))) {
        await this.storage.move(key, row.storageKey);
        recovered++;
      } else {
        await this.storage.delete(key);
        removed++;
      }
    }
    return { removed, recovered };
  }

  private async checkQuota(repo: Repository<Upload>, userId: number, size: number): Promise<void> {
    const quota = this.config.uploads.quotaBytes;
    if (!quota) return;
    if (this.dataSource.options.type === 'mysql') {
      // Serialise this user's concurrent uploads so two cannot both squeeze under the quota.
      await repo.manager.query('SELECT id FROM users WHERE id = ? FOR UPDATE', [userId]);
    }
    const row = await repo.createQueryBuilder('up').select('COALESCE(SUM(up.size), 0)', 'used').where('up.userId = :userId', { userId }).getRawOne<{ used: string | number }>();
    const used = Number(row?.used ?? 0);
    if (used + size > quota) {
      throw new PayloadTooLargeException(`Upload quota exceeded: ${used} of ${quota} bytes used, this file needs ${size}.`);
    }
  }

  private async withAnalysis(upload: Upload): Promise<UploadResponse> {
    const summaries = await this.hooks.summaries([upload.id]);
    return toUploadResponse(upload, summaries ? (summaries.get(upload.id) ?? null) : undefined);
  }

  /** One extra query for the whole page's analysis statuses: no N+1. */
  private async toPage(result: PageResult<Upload>, withOwner: boolean): Promise<PageResult<UploadResponse>> {
    const summaries = await this.hooks.summaries(result.items.map((u) => u.id));
    const items = result.items.map((u) => {
      const body = toUploadResponse(u, summaries ? (summaries.get(u.id) ?? null) : undefined);
      return withOwner ? { ...body, username: u.user?.username ?? '' } : body;
    });
    return { ...result, items };
  }
}

function applyFilters(qb: SelectQueryBuilder<Upload>, query: UploadsQueryDto): void {
  if (query.content_type) qb.andWhere('up.contentType = :contentType', { contentType: query.content_type });
  if (query.created_after) qb.andWhere('up.createdAt >= :after', { after: query.created_after });
  if (query.created_before) qb.andWhere('up.createdAt < :before', { before: query.created_before });
}

function tooLarge(maxBytes: number): PayloadTooLargeException {
  return new PayloadTooLargeException(`File too large: the limit is ${maxBytes} bytes.`);
}

function isUniqueViolation(err: unknown): boolean {
  if (!(err instanceof QueryFailedError)) return false;
  const driver = err.driverError as { code?: string; message?: string };
  return driver?.code === 'ER_DUP_ENTRY' || /UNIQUE constraint failed/i.test(driver?.message ?? '');
}
