import type { Readable } from 'node:stream';
import { Inject, Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, type EntityManager, type Repository, type SelectQueryBuilder } from 'typeorm';
import { onPrimary, replicaOrPrimary, transactional, withReadConnection } from '@echo/database';
import { CacheService } from '@echo/cache';
import { paginate, pageCacheKey, PAGE_CACHE_TTL_MS, revivePage, type PageRequest, type PageResult } from '@echo/pagination';
import { STORAGE, TEMP_PREFIX, thumbnailKey, type StorageDriver } from '@echo/storage';
import { User } from '@echo/users';
import { Upload } from './upload.entity.js';
import { UploadHooks } from './upload-hooks.js';
import { TusStaging } from './tus/tus-staging.js';
import { toUploadResponse, type AdminUploadResponse, type UploadBody, type UploadResponse } from './upload.response.js';
import { MediaUrls } from './media/media-urls.js';
import type { AdminUploadsQueryDto, UploadsQueryDto } from './dto/uploads-query.dto.js';

/** The cache version group of one user's upload listings (their analyses' status shows in them). */
export const uploadListGroup = (userId: number) => `uploads:${userId}`;

/** Listings, details, files and deletion of uploads (intake: UploadIntake). */
@Injectable()
export class UploadsService {
  constructor(
    @InjectRepository(Upload) private readonly uploads: Repository<Upload>,
    private readonly dataSource: DataSource,
    private readonly hooks: UploadHooks,
    private readonly cache: CacheService,
    @Inject(STORAGE) private readonly storage: StorageDriver,
    private readonly tusStaging: TusStaging,
    private readonly media: MediaUrls,
  ) {}

  /** Pages are cached per user, under a version bumped by every change to the user's uploads or their analyses. */
  async list(userId: number, query: UploadsQueryDto, page: PageRequest): Promise<PageResult<UploadResponse>> {
    const key = await this.cache.versioned(uploadListGroup(userId), `own:${pageCacheKey(page, query)}`);
    const cached = await this.cache.getOrSet(
      key,
      () =>
        withReadConnection(this.dataSource, async (manager) => {
          const qb = manager.getRepository(Upload).createQueryBuilder('up').where('up.userId = :userId', { userId });
          applyFilters(qb, query);
          return this.toPage(await paginate(qb, page), false, manager);
        }),
      PAGE_CACHE_TTL_MS,
    );
    return this.media.decoratePage(revivePage(cached));
  }

  async adminList(query: AdminUploadsQueryDto, page: PageRequest, userId?: number): Promise<PageResult<AdminUploadResponse>> {
    if (userId === undefined) return this.media.decoratePage(await this.adminListFromDb(query, page));
    // One user's uploads (the seed's admin_user_uploads): cached under that user's version.
    const key = await this.cache.versioned(uploadListGroup(userId), `admin:${pageCacheKey(page, query)}`);
    return this.media.decoratePage(revivePage(await this.cache.getOrSet(key, () => this.adminListFromDb(query, page, userId), PAGE_CACHE_TTL_MS)));
  }

  /** Admin: any upload, with its owner's username (moderation view). */
  async adminGet(id: string): Promise<AdminUploadResponse> {
    const upload = await replicaOrPrimary(this.dataSource, () => this.uploads.findOne({ where: { id }, relations: { user: true } }));
    if (!upload) throw new NotFoundException();
    return { ...(await this.withAnalysis(upload)), username: upload.user?.username ?? '' };
  }

  /** Admin moderation: deletes anyone's upload, as its owner's delete does. */
  async adminDelete(id: string): Promise<void> {
    const upload = await onPrimary(this.dataSource, () => this.uploads.findOne({ where: { id }, select: { id: true, userId: true } }));
    if (!upload) throw new NotFoundException();
    await this.delete(upload.userId, id);
  }

  /** Any upload by id (signed media URLs: the signature, not the caller, grants access). */
  async findById(id: string): Promise<Upload> {
    const upload = await replicaOrPrimary(this.dataSource, () => this.uploads.findOne({ where: { id } }));
    if (!upload) throw new NotFoundException();
    return upload;
  }

  private adminListFromDb(query: AdminUploadsQueryDto, page: PageRequest, userId?: number): Promise<PageResult<UploadBody & { username: string }>> {
    return withReadConnection(this.dataSource, async (manager) => {
      if (userId !== undefined && !(await manager.getRepository(User).exists({ where: { id: userId } }))) throw new NotFoundException();
      const qb = manager.getRepository(Upload).createQueryBuilder('up').innerJoin('up.user', 'owner').addSelect(['owner.id', 'owner.username']);
      const owner = userId ?? query.user_id;
      if (owner !== undefined) qb.andWhere('up.userId = :owner', { owner });
      applyFilters(qb, query);
      return this.toPage(await paginate(qb, page), true, manager) as Promise<PageResult<UploadBody & { username: string }>>;
    });
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

  async openThumbnail(upload: Upload): Promise<{ stream: Readable; size: number; modifiedAt: Date } | undefined> {
    const key = thumbnailKey(upload.userId, upload.id);
    const stat = await this.storage.stat(key);
    return stat ? { stream: await this.storage.get(key), size: stat.size, modifiedAt: stat.modifiedAt } : undefined;
  }

  /**
   * Row first (listeners remove what hangs off it in the same transaction), then the files: the
   * database stays the truth. Listeners' after-commit work (cache eviction) runs once it committed.
   */
  async delete(userId: number, id: string): Promise<void> {
    const upload = await onPrimary(this.dataSource, () => this.findOwn(userId, id));
    const afterCommit = await transactional(this.dataSource, async (em) => {
      const pending = await this.hooks.deleting(em, upload);
      await em.getRepository(Upload).delete({ id: upload.id, userId });
      return pending;
    });
    await this.hooks.deleted(afterCommit);
    await this.cache.bump(uploadListGroup(userId));
    await Promise.all([this.storage.delete(upload.storageKey), this.storage.delete(thumbnailKey(upload.userId, upload.id))]);
  }

  /**
   * Temp objects older than an hour: a crashed intake (removed) or one whose row committed but
   * whose move did not happen (completed now). Also unfinished tus uploads past TUS_EXPIRY.
   */
  async sweepOrphans(olderThan = new Date(Date.now() - 3600_000)): Promise<{ removed: number; recovered: number; expired: number }> {
    const expired = await this.tusStaging.sweepExpired();
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
    return { removed, recovered, expired };
  }

  /** The upload object with its latest analysis. */
  async withAnalysis(upload: Upload): Promise<UploadResponse> {
    const summaries = await this.hooks.summaries([upload.id]);
    return this.media.decorate(toUploadResponse(upload, summaries ? (summaries.get(upload.id) ?? null) : undefined));
  }

  /** One extra query for the whole page's analysis statuses (on the listing's connection): no N+1. */
  private async toPage(result: PageResult<Upload>, withOwner: boolean, manager: EntityManager): Promise<PageResult<UploadBody>> {
    const summaries = await this.hooks.summaries(result.items.map((u) => u.id), manager);
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
