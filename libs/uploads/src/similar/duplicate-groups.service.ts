import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { withReadConnection } from '@echo/database';
import { CacheService } from '@echo/cache';
import { PAGE_CACHE_TTL_MS, type PageRequest, type PageResult } from '@echo/pagination';
import { UploadListings } from '../contracts/upload-listings.js';
import { SimilarRepository } from './similar.repository.js';
import { nearDuplicateGroups } from './phash-groups.js';
import { memoryPage, pageModeOnly } from './memory-page.js';
import { UploadBodies, type ListedUpload } from './upload-bodies.js';

/** Upload objects per group on the wire (`size` counts them all): a page stays bounded however loose the distance. */
export const MAX_GROUP_UPLOADS = 100;

/**
 * Duplicate groups: the owner's uploads joined when their pHashes are within `maxDistance` bits,
 * transitively (nearDuplicateGroups), groups of two or more, largest first.
 */
@Injectable()
export class DuplicateGroups {
  constructor(
    private readonly dataSource: DataSource,
    private readonly repository: SimilarRepository,
    private readonly listings: UploadListings,
    private readonly cache: CacheService,
    private readonly bodies: UploadBodies,
  ) {}

  /**
   * A page of groups. The grouping runs once per version of the owner's upload lists (every
   * upload, delete and finished analysis moves it on) and is kept for PAGE_CACHE_TTL_MS: the next
   * page, or the same one again, is a slice plus the statement for its rows. Each group's uploads
   * are ordered here, from those rows: the best to keep first.
   */
  async page(
    userId: number,
    maxDistance: number,
    request: PageRequest,
  ): Promise<PageResult<{ size: number; uploads: ListedUpload[] }>> {
    pageModeOnly(request);
    const groups = await this.cache.getOrSet(
      await this.listings.key(userId, `duplicates:d${maxDistance}`),
      () => this.groups(userId, maxDistance),
      PAGE_CACHE_TTL_MS,
    );
    const { items, count } = memoryPage(groups, request);
    const shown = await Promise.all(items.map((ids) => this.bestOf(userId, ids)));
    const bodies = await this.bodies.byId(shown.flat());
    return {
      mode: 'page',
      count,
      items: items.map((ids, i) => ({
        size: ids.length,
        uploads: shown[i].flatMap((id) => bodies.get(id) ?? []).sort(bestFirst),
      })),
    };
  }

  /**
   * Every group as its uploads' ids, largest group first, then the group whose newest upload is
   * newest: the owner's hashes from their index alone, grouped in memory, then the upload times
   * (also from an index) to order groups of equal size.
   */
  private groups(userId: number, maxDistance: number): Promise<string[][]> {
    return withReadConnection(this.dataSource, async (manager) => {
      const hashes = await this.repository.hashes(manager, [userId]);
      const found = nearDuplicateGroups(
        hashes.map((row) => row.phash),
        maxDistance,
      ).map((members) => members.map((i) => hashes[i].id));
      if (!found.length) return [];
      const createdAt = await this.repository.createdAt(manager, userId, found.flat());
      return (
        found
          // Uploads deleted since the hashes were read.
          .map((ids) => ids.filter((id) => createdAt.has(id)))
          .filter((ids) => ids.length >= 2)
          .map((ids) => ({ ids, newest: ids.reduce((at, id) => Math.max(at, createdAt.get(id)!), 0) }))
          .sort((a, b) => b.ids.length - a.ids.length || b.newest - a.newest || compareIds(minId(a.ids), minId(b.ids)))
          .map(({ ids }) => ids)
      );
    });
  }

  /** The group's ids to show: all of a usual group; the best MAX_GROUP_UPLOADS of a larger one. */
  private async bestOf(userId: number, ids: string[]): Promise<string[]> {
    if (ids.length <= MAX_GROUP_UPLOADS) return ids;
    const keys = await withReadConnection(this.dataSource, (manager) => this.repository.sortKeys(manager, userId, ids));
    return keys
      .map((k) => ({ id: k.id, width: k.width, height: k.height, size: k.size, created_at: k.createdAt.toISOString() }))
      .sort(bestFirst)
      .slice(0, MAX_GROUP_UPLOADS)
      .map((k) => k.id);
  }
}

type Ranked = Pick<ListedUpload, 'id' | 'width' | 'height' | 'size' | 'created_at'>;

/** The one to keep first: most pixels, then the largest file, then the newest. */
function bestFirst(a: Ranked, b: Ranked): number {
  return (
    b.width * b.height - a.width * a.height ||
    b.size - a.size ||
    (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0) ||
    compareIds(a.id, b.id)
  );
}

const compareIds = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const minId = (ids: string[]) => ids.reduce((min, id) => (id < min ? id : min));
