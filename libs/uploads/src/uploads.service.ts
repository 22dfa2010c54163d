import type { Readable } from 'node:stream';
import { Inject, Injectable, NotFoundException, Optional } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { onPrimary, replicaOrPrimary, transactional, withReadConnection } from '@echo/database';
import { recordAudit, SYSTEM_AUDIT, type AuditContext } from '@echo/audit-log';
import { CacheService } from '@echo/cache';
import { pageCacheKey, PAGE_CACHE_TTL_MS, revivePage, type PageRequest, type PageResult } from '@echo/pagination';
import {
  PREVIEWS_PREFIX,
  previewKey,
  STORAGE,
  TEMP_PREFIX,
  THUMBS_PREFIX,
  thumbnailKey,
  type StorageDriver,
} from '@echo/storage';
import type { Upload } from './upload.entity.js';
import { UploadsRepository, type UploadFilters } from './uploads.repository.js';
import { ANALYSIS_SUMMARY_READER, type AnalysisSummaryReader } from './contracts/analysis-summary.reader.js';
import { UploadEvents } from './contracts/upload-events.js';
import { UploadListings } from './contracts/upload-listings.js';
import { TusStaging } from './tus/tus-staging.js';
import {
  toUploadResponse,
  uploadBodyFromRow,
  type AdminUploadResponse,
  type UploadBody,
  type UploadResponse,
  type UploadRow,
} from './upload.response.js';
import { MediaUrls } from './media/media-urls.js';
import type { AdminUploadsQueryDto, UploadsQueryDto } from './dto/uploads-query.dto.js';

const THUMB_SWEEP_BATCH = 500;
const THUMB_SWEEP_MAX_REMOVALS = 5000;

/** Listings, details, files and deletion of uploads (intake: UploadIntake). */
@Injectable()
export class UploadsService {
  constructor(
    private readonly uploads: UploadsRepository,
    private readonly dataSource: DataSource,
    private readonly events: UploadEvents,
    private readonly listings: UploadListings,
    private readonly cache: CacheService,
    @Inject(STORAGE) private readonly storage: StorageDriver,
    private readonly tusStaging: TusStaging,
    private readonly media: MediaUrls,
    @Optional() @Inject(ANALYSIS_SUMMARY_READER) private readonly analyses?: AnalysisSummaryReader,
  ) {}

  /**
   * Not cached here: the controller's page-body cache (under the user's list version) answers
   * repeats with the bytes it sent, so a miss there goes straight to the database — one statement,
   * with the list's count kept under the same version (see listPage).
   */
  async list(userId: number, query: UploadsQueryDto, page: PageRequest): Promise<PageResult<UploadResponse>> {
    return this.media.decoratePage(await this.listPage(userId, filtersOf(query), page));
  }

  async adminList(
    query: AdminUploadsQueryDto,
    page: PageRequest,
    userId?: number,
  ): Promise<PageResult<AdminUploadResponse>> {
    if (userId === undefined)
      return this.media.decoratePage(await this.listPage(query.user_id, filtersOf(query), page, { usernames: true }));
    // One user's uploads (the seed's admin_user_uploads): cached under that user's version.
    const key = await this.listings.key(userId, `admin:${pageCacheKey(page, query)}`);
    return this.media.decoratePage(
      revivePage(
        await this.cache.getOrSet(
          key,
          () => this.listPage(userId, filtersOf(query), page, { usernames: true, ownerMustExist: true }),
          PAGE_CACHE_TTL_MS,
        ),
      ),
    );
  }

  /** Admin: any upload, with its owner's username (moderation view). */
  async adminGet(id: string): Promise<AdminUploadResponse> {
    const upload = await replicaOrPrimary(this.dataSource, () => this.uploads.findWithOwner(id));
    if (!upload) throw new NotFoundException();
    return { ...(await this.withAnalysis(upload)), username: upload.user?.username ?? '' };
  }

  /** Admin moderation: deletes anyone's upload, as its owner's delete does. */
  async adminDelete(id: string, audit: AuditContext = SYSTEM_AUDIT): Promise<void> {
    const upload = await onPrimary(this.dataSource, () => this.uploads.findById(id));
    if (!upload) throw new NotFoundException();
    await this.remove(upload, (manager) =>
      recordAudit(manager, audit, {
        action: 'upload.delete',
        targetType: 'upload',
        targetId: upload.id,
        targetLabel: upload.title || upload.originalName || upload.id,
        changes: { owner_id: [upload.userId, null] },
      }),
    );
  }

  /** Any upload by id (signed media URLs: the signature, not the caller, grants access). */
  async findById(id: string): Promise<Upload> {
    const upload = await replicaOrPrimary(this.dataSource, () => this.uploads.findById(id));
    if (!upload) throw new NotFoundException();
    return upload;
  }

  /**
   * One statement per page on a read connection: the rows with their latest analysis (and owner's
   * username), mapped straight to the wire shape. A user's list total is kept under their list
   * version (UploadListings.countKey): only the first read of a version counts, inside the page's
   * own statement; later pages, TTL-evicted pages and admin views of the same list do not.
   */
  private async listPage<B extends UploadBody>(
    userId: number | undefined,
    filters: ReturnType<typeof filtersOf>,
    page: PageRequest,
    options: { usernames?: boolean; ownerMustExist?: boolean } = {},
  ): Promise<PageResult<B>> {
    // The total does not depend on the order.
    const { ordering: _ordering, ...counted } = filters;
    const countKey = userId === undefined ? undefined : await this.listings.countKey(userId, counted);
    const knownCount = countKey && page.mode === 'page' ? await this.cache.get<number>(countKey) : undefined;
    const result = await withReadConnection(this.dataSource, async (manager) => {
      const rows = await this.uploads.page(manager, { ...filters, userId }, page, {
        analysis: this.analyses?.latestJoin('up'),
        usernames: options.usernames,
        knownCount,
      });
      // An empty page of an admin's per-user list: is there such a user at all (404)?
      if (options.ownerMustExist && !rows.items.length && !(await this.uploads.findUser(manager, userId!)))
        throw new NotFoundException();
      return rows;
    });
    if (countKey && knownCount === undefined && result.mode === 'page')
      await this.cache.set(countKey, result.count, PAGE_CACHE_TTL_MS);
    const body = (row: UploadRow) => {
      const upload = uploadBodyFromRow(row, this.analyses !== undefined);
      return (options.usernames ? { ...upload, username: row.username ?? '' } : upload) as B;
    };
    return { ...result, items: result.items.map(body) };
  }

  /**
   * The user's own upload; another user's id is 404, not 403 (ids are not confirmed to exist).
   * From a replica; one the replica does not have yet (just uploaded) is looked up on the primary.
   */
  async findOwn(userId: number, id: string): Promise<Upload> {
    const upload = await replicaOrPrimary(this.dataSource, () => this.uploads.findOwn(userId, id));
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
   * The stored preview rendition (size and time for its ETag and ranges), or undefined: no analysis
   * has made one, or the preview is the original itself (`preview_key` = the upload's key).
   */
  async previewRendition(upload: Upload): Promise<{ key: string; size: number; modifiedAt: Date } | undefined> {
    const key = previewKey(upload.userId, upload.id);
    if (upload.previewKey !== key) return undefined;
    const stat = await this.storage.stat(key);
    return stat ? { key, size: stat.size, modifiedAt: stat.modifiedAt } : undefined;
  }

  /** Reads the rendition `previewRendition` found (all of it, or an inclusive byte range). */
  openPreview(rendition: { key: string }, range?: { start: number; end: number }): Promise<Readable> {
    return this.storage.get(rendition.key, range);
  }

  /**
   * Row first (the `deleted` handlers remove what hangs off it in the same transaction), then the
   * files: the database stays the truth. The handlers' after-commit work (cache eviction) runs once
   * it committed, before the answer.
   */
  async delete(userId: number, id: string): Promise<void> {
    await this.remove(await onPrimary(this.dataSource, () => this.findOwn(userId, id)));
  }

  /** The row, its analyses (through the 'deleted' event) and its files; the owner's lists move on. */
  /** `audit`: an admin's deletion writes its entry in the deleting transaction. */
  private async remove(upload: Upload, audit?: (manager: EntityManager) => Promise<void>): Promise<void> {
    const afterCommit = await transactional(this.dataSource, async (manager) => {
      const work = await this.events.emit('deleted', { manager, upload });
      await this.uploads.delete(upload.id, manager);
      if (audit) await audit(manager);
      return work;
    });
    for (const work of afterCommit) await work();
    await this.listings.changed(upload.userId);
    // The rendition's key from the ids, not from preview_key: a preview written by a run that had
    // not yet recorded it goes too.
    await Promise.all([
      this.storage.delete(upload.storageKey),
      this.storage.delete(thumbnailKey(upload.userId, upload.id)),
      this.storage.delete(previewKey(upload.userId, upload.id)),
    ]);
  }

  /**
   * Temp objects older than an hour: a crashed intake (removed) or one whose row committed but
   * whose move did not happen (completed now). Also unfinished tus uploads past TUS_EXPIRY, and
   * thumbnails and previews older than the same hour whose upload row is gone (see sweepDerived).
   */
  async sweepOrphans(
    olderThan = new Date(Date.now() - 3600_000),
  ): Promise<{ removed: number; recovered: number; expired: number; thumbnails: number; previews: number }> {
    const expired = await this.tusStaging.sweepExpired();
    let removed = 0;
    let recovered = 0;
    for await (const key of this.storage.listOlderThan(TEMP_PREFIX, olderThan)) {
      const id = key.slice(TEMP_PREFIX.length);
      // On the primary: a lagging replica must never make a committed upload's file look orphaned.
      const row = /^[0-9a-f-]{36}$/.test(id) ? await onPrimary(this.dataSource, () => this.uploads.findById(id)) : null;
      if (row && !(await this.storage.stat(row.storageKey))) {
        await this.storage.move(key, row.storageKey);
        recovered++;
      } else {
        await this.storage.delete(key);
        removed++;
      }
    }
    const thumbnails = await this.sweepDerived(THUMBS_PREFIX, olderThan);
    const previews = await this.sweepDerived(PREVIEWS_PREFIX, olderThan);
    return { removed, recovered, expired, thumbnails, previews };
  }

  /**
   * Thumbnails or previews (under `prefix`), and leftovers of their writes, whose upload is gone:
   * an analysis that finished after its upload was deleted, by a worker that died before it could
   * clean up. Only files older than `olderThan` (a write in progress is never touched); one
   * primary lookup per THUMB_SWEEP_BATCH keys; at most THUMB_SWEEP_MAX_REMOVALS per prefix and
   * sweep, the rest the next time (removed keys leave the listing, so each sweep makes progress).
   */
  private async sweepDerived(prefix: string, olderThan: Date): Promise<number> {
    let removed = 0;
    let batch: string[] = [];
    for await (const key of this.storage.listOlderThan(prefix, olderThan)) {
      batch.push(key);
      if (batch.length < THUMB_SWEEP_BATCH) continue;
      removed += await this.removeOrphans(prefix, batch, THUMB_SWEEP_MAX_REMOVALS - removed);
      batch = [];
      if (removed >= THUMB_SWEEP_MAX_REMOVALS) return removed;
    }
    return removed + (await this.removeOrphans(prefix, batch, THUMB_SWEEP_MAX_REMOVALS - removed));
  }

  private async removeOrphans(prefix: string, keys: string[], budget: number): Promise<number> {
    // `<prefix><userId>/<uploadId>` then `.webp` (or a partial write's suffix); other keys are not ours to judge.
    const parsed = keys.flatMap((key) => {
      const m = /^(\d+)\/([0-9a-f-]{36})(?:\.|$)/.exec(key.slice(prefix.length));
      return m ? [{ key, userId: Number(m[1]), uploadId: m[2] }] : [];
    });
    if (!parsed.length) return 0;
    // On the primary, as above: a replica that has not seen an upload yet must not cost its files.
    const owners = await onPrimary(this.dataSource, () => this.uploads.ownersOf(parsed.map((p) => p.uploadId)));
    let removed = 0;
    for (const { key, userId, uploadId } of parsed) {
      if (removed >= budget) break;
      if (owners.get(uploadId) === userId) continue;
      await this.storage.delete(key);
      removed++;
    }
    return removed;
  }

  /** The upload object with its latest analysis. */
  async withAnalysis(upload: Upload): Promise<UploadResponse> {
    const summaries = await this.analyses?.latestFor([upload.id]);
    return this.media.decorate(toUploadResponse(upload, summaries ? (summaries.get(upload.id) ?? null) : undefined));
  }
}

/** The query's filters and ordering (the pagination parameters are the interceptor's). */
function filtersOf(query: UploadsQueryDto): Omit<UploadFilters, 'userId'> {
  const { page: _page, page_size: _size, cursor: _cursor, ...filters } = query;
  if (!filters.color) delete filters.color_distance;
  return filters;
}
