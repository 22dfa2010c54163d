import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, type EntityManager, type Repository } from 'typeorm';
import { isMysql, sqlReader } from '@echo/database';
import { pageBySql, type PageRequest, type PageResult, type SqlList } from '@echo/pagination';
import { User } from '@echo/users';
import { Upload } from './upload.entity.js';
import { UPLOAD_COLUMNS, type UploadRow } from './upload.response.js';
import { DEFAULT_COLOR_DISTANCE, type UploadsQueryDto } from './dto/uploads-query.dto.js';
import { BLURRY_BELOW_SHARPNESS } from './search/blur.js';
import { labOfHex } from './search/cielab.js';
import { cameraKey, type SearchAttributes } from './search/search-attributes.js';
import { UploadWord } from './search/upload-word.entity.js';
import { searchWords } from './search/words.js';
import type { LatestAnalysisSql, LatestAnalysisStatus } from './contracts/analysis-summary.reader.js';

/** Filters and ordering an upload listing accepts, plus the admin's owner and analysis-status filters. */
export type UploadFilters = Omit<UploadsQueryDto, 'page' | 'page_size' | 'cursor'> & {
  userId?: number;
  analysis_status?: LatestAnalysisStatus;
};

/** Filters the search indexes serve (an owner's list with one of them scans its ordering's search index). */
const SEARCH_FILTERS = [
  'content_type',
  'taken_after',
  'taken_before',
  'camera_make',
  'camera_model',
  'has_gps',
  'orientation',
  'min_width',
  'min_height',
  'format',
  'color',
  'blurry',
  'q',
] as const;

/** The narrow index that counts an owner's list filtered by this one filter (UploadCountIndexes1764810000000). */
const COUNT_INDEX: Partial<Record<(typeof SEARCH_FILTERS)[number], string>> = {
  content_type: 'ix_uploads_user_type_count',
  camera_make: 'ix_uploads_user_make_count',
  camera_model: 'ix_uploads_user_model_count',
  has_gps: 'ix_uploads_user_gps_count',
  orientation: 'ix_uploads_user_orientation_count',
  min_width: 'ix_uploads_user_width_count',
  min_height: 'ix_uploads_user_height_count',
  format: 'ix_uploads_user_format_count',
  blurry: 'ix_uploads_user_sharpness_count',
  color: 'ix_uploads_user_color_count',
};

/** At most this many words of `q` count (each after the first is one more index probe per row). */
const MAX_QUERY_WORDS = 10;

type WordSource = Pick<Upload, 'id' | 'userId' | 'title' | 'originalName' | 'createdAt' | 'takenAt'>;

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
    options: { analysis?: LatestAnalysisSql; usernames?: boolean; knownCount?: number } = {},
  ): Promise<PageResult<UploadRow>> {
    const db = sqlReader(manager);
    const list = this.listStatement(manager, db, filters, options);
    const result = await pageBySql<UploadRow>(db, list, page, options.knownCount);
    for (const row of result.items) {
      row.created_at = db.date(row.created_at);
      if (row.taken_at !== null && row.taken_at !== undefined) row.taken_at = db.date(row.taken_at);
    }
    return result;
  }

  private listStatement(
    manager: EntityManager,
    db: ReturnType<typeof sqlReader>,
    filters: UploadFilters,
    options: { analysis?: LatestAnalysisSql; usernames?: boolean },
  ): SqlList {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (condition: string, ...values: unknown[]) => {
      where.push(condition);
      params.push(...values);
    };
    // An owner's word search is driven by the word index (`w`, see scan below): it holds the owner.
    const words = queryWords(filters.q);
    const byWords = filters.userId !== undefined && words.length > 0;
    if (byWords) add('w.user_id = ? AND w.word = ?', filters.userId, words[0]);
    else if (filters.userId !== undefined) add('up.user_id = ?', filters.userId);
    if (filters.content_type) add('up.content_type = ?', filters.content_type);
    if (filters.created_after) add('up.created_at >= ?', db.param(filters.created_after));
    if (filters.created_before) add('up.created_at < ?', db.param(filters.created_before));
    if (filters.taken_after) add('up.taken_at >= ?', db.param(filters.taken_after));
    if (filters.taken_before) add('up.taken_at < ?', db.param(filters.taken_before));
    // Stored lower-cased (cameraKey): an exact, case-insensitive match through the index on both dialects.
    if (filters.camera_make) add('up.camera_make = ?', cameraKey(filters.camera_make));
    if (filters.camera_model) add('up.camera_model = ?', cameraKey(filters.camera_model));
    if (filters.has_gps !== undefined) add('up.has_gps = ?', filters.has_gps ? 1 : 0);
    if (filters.orientation) add('up.orientation = ?', filters.orientation);
    if (filters.min_width) add('up.width >= ?', filters.min_width);
    if (filters.min_height) add('up.height >= ?', filters.min_height);
    if (filters.format) add('up.format = ?', filters.format);
    if (filters.color) {
      const [l, a, b] = labOfHex(filters.color)!;
      const distance = filters.color_distance ?? DEFAULT_COLOR_DISTANCE;
      // CIE76 ΔE*ab, squared on both sides (no SQRT needed; SQLite has none built in); + 0.01 so
      // the stored single-precision Lab of a colour still matches that colour at distance 0. The
      // driver writes numbers as decimal literals: cast, or MariaDB computes every row in DECIMAL
      // (measured: a 20,000-upload count 35 ms, 8 ms in DOUBLE).
      const n = 'CAST(? AS DOUBLE)';
      // The sphere's bounding range on L* first: cheap, and the color count index's range.
      add(`up.color_l BETWEEN ${n} AND ${n}`, l - distance - 0.01, l + distance + 0.01);
      add(
        `((up.color_l - ${n}) * (up.color_l - ${n}) + (up.color_a - ${n}) * (up.color_a - ${n}) + (up.color_b - ${n}) * (up.color_b - ${n})) <= ${n}`,
        l,
        l,
        a,
        a,
        b,
        b,
        (distance + 0.01) ** 2,
      );
    }
    if (filters.blurry !== undefined)
      add(filters.blurry ? 'up.sharpness < ?' : 'up.sharpness >= ?', BLURRY_BELOW_SHARPNESS);
    // Every other word: a primary-key probe of the word index per candidate row.
    for (const word of byWords ? words.slice(1) : words)
      add(
        `EXISTS (SELECT 1 FROM upload_words qw WHERE qw.upload_id = ${byWords ? 'w.upload_id' : 'up.id'} AND qw.word = ?)`,
        word,
      );
    if (filters.analysis_status) {
      // Analyses are VisualAnalysis' table: it writes the condition. A process without it has no
      // analyses, so no upload has a latest analysis in any status.
      const latest = options.analysis?.statusIs(filters.analysis_status, filters.userId);
      if (latest) add(latest.condition, ...latest.params);
      else add('1 = 0');
    }

    const ordering = filters.ordering ?? '-created_at';
    const column = ordering.replace(/^-/, '');
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
    return {
      table: 'uploads up',
      alias: 'up',
      where,
      params,
      select: select.join(', '),
      joins: joins.join(' '),
      order: { column, descending: ordering.startsWith('-'), tag: ordering === '-created_at' ? undefined : ordering },
      hint: this.searchIndexHint(manager, filters, column),
      countHint: this.countIndexHint(manager, filters),
      ...(byWords ? { scan: this.wordScan(manager, column) } : {}),
    };
  }

  /**
   * An owner's count reads the narrowest index that holds its rows: with no filter or only a
   * created-at range the owner's (user_id, created_at) index, with only a taken-at range the
   * taken-at search index's range, with one other search filter that filter's count index.
   * Several filters: the ordering's covering index, as the page (one index cannot narrow them all).
   */
  private countIndexHint(manager: EntityManager, filters: UploadFilters): string | undefined {
    if (filters.userId === undefined || filters.q !== undefined || filters.analysis_status) return undefined;
    const active = [...SEARCH_FILTERS, 'created_after', 'created_before'].filter(
      (name) => filters[name as keyof UploadFilters] !== undefined,
    );
    const only = (...names: string[]) => active.every((name) => names.includes(name));
    const index = only('created_after', 'created_before')
      ? 'ix_uploads_user_created'
      : only('taken_after', 'taken_before')
        ? 'ix_uploads_user_taken_search'
        : active.length === 1
          ? COUNT_INDEX[active[0] as (typeof SEARCH_FILTERS)[number]]
          : undefined;
    return index && indexHint(manager, index);
  }

  /**
   * An owner's search by words scans the word index in the list's order (its dates are the
   * upload's), joining the upload only for the other filters: LEFT, so a search by words alone
   * counts from the index (MariaDB and SQLite drop a LEFT JOIN on a unique key nothing reads).
   */
  private wordScan(manager: EntityManager, column: string): SqlList['scan'] {
    const hint = indexHint(
      manager,
      column === 'taken_at' ? 'ix_upload_words_user_taken' : 'ix_upload_words_user_created',
    );
    return { from: `upload_words w ${hint} LEFT JOIN uploads up ON up.id = w.upload_id`, alias: 'w', id: 'upload_id' };
  }

  /**
   * An owner's searched or taken-at-ordered list scans its ordering's covering search index (every
   * filter column rides in it), named rather than left to the optimizer: with a dozen indexes that
   * start with user_id, a plan that sorts would be a guess away. Other lists: the optimizer's choice.
   */
  private searchIndexHint(manager: EntityManager, filters: UploadFilters, column: string): string | undefined {
    if (filters.userId === undefined) return undefined;
    if (column === 'created_at' && !SEARCH_FILTERS.some((name) => filters[name] !== undefined)) return undefined;
    return indexHint(
      manager,
      column === 'taken_at' ? 'ix_uploads_user_taken_search' : 'ix_uploads_user_created_search',
    );
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
    // The word index orders by the upload's taken_at: it follows the row as now written.
    await manager.query(
      'UPDATE upload_words SET taken_at = (SELECT taken_at FROM uploads WHERE id = ?) WHERE upload_id = ?',
      [uploadId, uploadId],
    );
  }

  /** A new upload and its words (the word index `q` searches), in the caller's transaction. */
  async insert(manager: EntityManager, upload: Upload): Promise<void> {
    await manager.getRepository(Upload).insert(upload);
    await this.insertWords(manager, [upload]);
  }

  /**
   * The search backfill's step for uploads made before the word index: the next `limit` uploads
   * after `afterId` (by id) that have no words get theirs. Returns the last id read, or null when
   * none is left. Concurrent backfills may meet: a word already there is skipped (INSERT IGNORE).
   */
  async indexMissingWords(manager: EntityManager, afterId: string, limit: number): Promise<string | null> {
    const rows: WordSource[] = await manager
      .getRepository(Upload)
      .createQueryBuilder('up')
      .select(['up.id', 'up.userId', 'up.title', 'up.originalName', 'up.createdAt', 'up.takenAt'])
      .where('up.id > :afterId', { afterId })
      .andWhere('NOT EXISTS (SELECT 1 FROM upload_words w WHERE w.upload_id = up.id)')
      .orderBy('up.id', 'ASC')
      .limit(limit)
      .getMany();
    if (!rows.length) return null;
    await this.insertWords(manager, rows, true);
    return rows[rows.length - 1].id;
  }

  private async insertWords(manager: EntityManager, uploads: WordSource[], ignoreExisting = false): Promise<void> {
    const rows = uploads.flatMap((u) =>
      searchWords(u.title, u.originalName).map((word) => ({
        uploadId: u.id,
        word,
        userId: u.userId,
        createdAt: u.createdAt,
        takenAt: u.takenAt ?? null,
      })),
    );
    // Bounded statements (a title and a file name give at most a few hundred words).
    for (let i = 0; i < rows.length; i += 500) {
      const insert = manager
        .createQueryBuilder()
        .insert()
        .into(UploadWord)
        .values(rows.slice(i, i + 500));
      await (ignoreExisting ? insert.orIgnore() : insert).execute();
    }
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

/** An index named for the scan or the count (MariaDB `FORCE INDEX`, SQLite `INDEXED BY`). */
function indexHint(manager: EntityManager, index: string): string {
  return isMysql(manager.dataSource) ? `FORCE INDEX (${index})` : `INDEXED BY ${index}`;
}

/** `q`'s words as the word index stores them, the longest first (likely the rarest: it drives the scan). */
function queryWords(q: string | undefined): string[] {
  if (!q) return [];
  return searchWords(q)
    .slice(0, MAX_QUERY_WORDS)
    .sort((x, y) => y.length - x.length);
}
