import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, type EntityManager, type Repository, type SelectQueryBuilder } from 'typeorm';
import { isMysql } from '@echo/database';
import { paginate, type PageRequest, type PageResult } from '@echo/pagination';
import { User } from '@echo/users';
import { Upload } from './upload.entity.js';
import type { UploadsQueryDto } from './dto/uploads-query.dto.js';

/** Filters an upload listing accepts, plus the admin's owner filter. */
export type UploadFilters = Pick<UploadsQueryDto, 'content_type' | 'created_after' | 'created_before'> & {
  userId?: number;
};

/**
 * Every query on uploads. Reads go where the caller's scope sends them (`onPrimary`,
 * `replicaOrPrimary`, a `withReadConnection` manager); writes inside a transaction take its manager.
 */
@Injectable()
export class UploadsRepository {
  constructor(@InjectRepository(Upload) private readonly uploads: Repository<Upload>) {}

  create(fields: Upload): Upload {
    return this.uploads.create(fields);
  }

  findById(id: string): Promise<Upload | null> {
    return this.uploads.findOne({ where: { id } });
  }

  findOwn(userId: number, id: string): Promise<Upload | null> {
    return this.uploads.findOne({ where: { id, userId } });
  }

  findOwner(id: string): Promise<Pick<Upload, 'id' | 'userId'> | null> {
    return this.uploads.findOne({ where: { id }, select: { id: true, userId: true } });
  }

  findWithOwner(id: string): Promise<Upload | null> {
    return this.uploads.findOne({ where: { id }, relations: { user: true } });
  }

  /** The user's upload of these bytes (the unique (user_id, sha256) index). */
  findBySha(userId: number, sha256: string): Promise<Upload | null> {
    return this.uploads.findOne({ where: { userId, sha256 } });
  }

  /** A page of uploads, newest first, on the caller's connection; no joins (see pageWithUsernames). */
  page(manager: EntityManager, filters: UploadFilters, page: PageRequest): Promise<PageResult<Upload>> {
    const qb = manager.getRepository(Upload).createQueryBuilder('up');
    applyFilters(qb, filters);
    return paginate(qb, page);
  }

  /**
   * An admin page: the uploads first (their own index, e.g. ix_uploads_created when unfiltered),
   * then the page's owners' usernames by id. A join would let MariaDB read users first and
   * filesort every upload. `owner` (the caller already read it) spares the second query.
   */
  async pageWithUsernames(
    manager: EntityManager,
    filters: UploadFilters,
    page: PageRequest,
    owner?: Pick<User, 'id' | 'username'>,
  ): Promise<PageResult<Upload & { username: string }>> {
    const result = await this.page(manager, filters, page);
    const names = new Map<number, string>(owner ? [[owner.id, owner.username]] : []);
    const missing = [...new Set(result.items.map((u) => u.userId))].filter((id) => !names.has(id));
    if (missing.length) {
      const users = await manager
        .getRepository(User)
        .find({ select: { id: true, username: true }, where: { id: In(missing) } });
      for (const u of users) names.set(u.id, u.username);
    }
    return { ...result, items: result.items.map((u) => Object.assign(u, { username: names.get(u.userId) ?? '' })) };
  }

  /** The owner of an admin's per-user listing, or null (404). */
  findUser(manager: EntityManager, userId: number): Promise<Pick<User, 'id' | 'username'> | null> {
    return manager.getRepository(User).findOne({ select: { id: true, username: true }, where: { id: userId } });
  }

  insert(manager: EntityManager, upload: Upload): Promise<unknown> {
    return manager.getRepository(Upload).insert(upload);
  }

  async delete(id: string, manager: EntityManager = this.uploads.manager): Promise<void> {
    await manager.getRepository(Upload).delete({ id });
  }

  /**
   * Inside the intake's transaction: serialises this user's concurrent uploads (their row, FOR
   * UPDATE) so two cannot both squeeze under the quota. SQLite has one writer at a time already.
   */
  async lockQuota(manager: EntityManager, userId: number): Promise<void> {
    if (isMysql(manager.dataSource)) await manager.query('SELECT id FROM users WHERE id = ? FOR UPDATE', [userId]);
  }

  /** Bytes the user's uploads take. */
  async usedBytes(userId: number, manager: EntityManager = this.uploads.manager): Promise<number> {
    const row = await manager
      .getRepository(Upload)
      .createQueryBuilder('up')
      .select('COALESCE(SUM(up.size), 0)', 'used')
      .where('up.userId = :userId', { userId })
      .getRawOne<{ used: string | number }>();
    return Number(row?.used ?? 0);
  }

  /** Owner of each of these uploads that exists (the storage sweeper's batched lookup). */
  async ownersOf(ids: string[]): Promise<Map<string, number>> {
    if (!ids.length) return new Map();
    const rows = await this.uploads
      .createQueryBuilder('up')
      .select(['up.id', 'up.userId'])
      .where('up.id IN (:...ids)', { ids })
      .getMany();
    return new Map(rows.map((r) => [r.id, Number(r.userId)]));
  }
}

function applyFilters(qb: SelectQueryBuilder<Upload>, filters: UploadFilters): void {
  if (filters.userId !== undefined) qb.andWhere('up.userId = :userId', { userId: filters.userId });
  if (filters.content_type) qb.andWhere('up.contentType = :contentType', { contentType: filters.content_type });
  if (filters.created_after) qb.andWhere('up.createdAt >= :after', { after: filters.created_after });
  if (filters.created_before) qb.andWhere('up.createdAt < :before', { before: filters.created_before });
}
