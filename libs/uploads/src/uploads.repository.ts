import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, type EntityManager, type Repository } from 'typeorm';
import { isMysql, sqlReader } from '@echo/database';
import { pageBySql, type PageRequest, type PageResult } from '@echo/pagination';
import { User } from '@echo/users';
import { Upload } from './upload.entity.js';
import { UPLOAD_COLUMNS, type UploadRow } from './upload.response.js';
import type { UploadsQueryDto } from './dto/uploads-query.dto.js';
import type { SearchAttributes } from './search/search-attributes.js';

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

  findWithOwner(id: string): Promise<Upload | null> {
    return this.uploads.findOne({ where: { id }, relations: { user: true } });
  }

  /** The user's upload of these bytes (the unique (user_id, sha256) index). */
  findBySha(userId: number, sha256: string): Promise<Upload | null> {
    return this.uploads.findOne({ where: { userId, sha256 } });
  }

  /**
   * A page of uploads, newest first, as one hand-written statement on the caller's connection
   * (see pageBySql): the scan reads ids from the filter's index, then only the page's rows are
   * looked up, joined to their latest analysis (`analysis`) and, for admin lists, their owner's
   * username. `knownCount`: the list's total, kept by the caller per list version.
   */
  async page(
    manager: EntityManager,
    filters: UploadFilters,
    page: PageRequest,
    options: { analysis?: { select: string; join: string }; usernames?: boolean; knownCount?: number } = {},
  ): Promise<PageResult<UploadRow>> {
    const db = sqlReader(manager);
    const result = await pageBySql<UploadRow>(db, this.listStatement(db, filters, options), page, options.knownCount);
    for (const row of result.items) row.created_at = db.date(row.created_at);
    return result;
  }

  private listStatement(
    db: ReturnType<typeof sqlReader>,
    filters: UploadFilters,
    options: { analysis?: { select: string; join: string }; usernames?: boolean },
  ) {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (condition: string, value: unknown) => {
      where.push(condition);
      params.push(value);
    };
    if (filters.userId !== undefined) add('up.user_id = ?', filters.userId);
    if (filters.content_type) add('up.content_type = ?', filters.content_type);
    if (filters.created_after) add('up.created_at >= ?', db.param(filters.created_after));
    if (filters.created_before) add('up.created_at < ?', db.param(filters.created_before));
    const select = [UPLOAD_COLUMNS];
    const joins: string[] = [];
    if (options.analysis) {
      select.push(options.analysis.select);
      joins.push(options.analysis.join);
    }
    if (options.usernames) {
      select.push('owner.username AS username');
      // LEFT: the page must show every upload its count counts (COUNT reads uploads alone).
      joins.push('LEFT JOIN users owner ON owner.id = up.user_id');
    }
    return { table: 'uploads up', alias: 'up', where, params, select: select.join(', '), joins: joins.join(' ') };
  }

  /** The owner of an admin's per-user listing, or null (404). */
  findUser(manager: EntityManager, userId: number): Promise<Pick<User, 'id' | 'username'> | null> {
    return manager.getRepository(User).findOne({ select: { id: true, username: true }, where: { id: userId } });
  }

  /**
   * A completed analysis' searchable attributes onto its upload (inside the completion's
   * transaction). `onlyUnfilled`: the backfill's write, which must not overwrite a row an analysis
   * completed meanwhile (only rows whose taken_at is still null change).
   */
  async recordAnalysis(
    manager: EntityManager,
    uploadId: string,
    attributes: SearchAttributes | Pick<SearchAttributes, 'takenAt'>,
    onlyUnfilled = false,
  ): Promise<void> {
    const where = onlyUnfilled ? { id: uploadId, takenAt: IsNull() } : { id: uploadId };
    await manager.getRepository(Upload).update(where, attributes);
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
