import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { withReadConnection } from '@echo/database';
import { CacheService } from '@echo/cache';
import { PAGE_CACHE_TTL_MS, type PageRequest, type PageResult } from '@echo/pagination';
import type { Upload } from '../upload.entity.js';
import { UploadListings } from '../contracts/upload-listings.js';
import { SimilarRepository } from './similar.repository.js';
import { PhashSet } from './phash-set.js';
import { memoryPage, pageModeOnly } from './memory-page.js';
import { UploadBodies, type ListedUpload } from './upload-bodies.js';

/** An upload id and its distance, in the page's order (what is cached per list version). */
type Neighbour = [id: string, distance: number];

/**
 * Similar photos: the owner's other uploads whose pHash is within `maxDistance` bits of this
 * upload's, nearest first, newest first among equals.
 */
@Injectable()
export class SimilarUploads {
  constructor(
    private readonly dataSource: DataSource,
    private readonly repository: SimilarRepository,
    private readonly listings: UploadListings,
    private readonly cache: CacheService,
    private readonly bodies: UploadBodies,
  ) {}

  /**
   * A page of them, each upload object with its `distance`. The whole ordered list is worked out
   * once per version of the owner's upload lists (every upload, delete and finished analysis moves
   * it on) and kept for PAGE_CACHE_TTL_MS, so the next page is a slice plus its rows.
   */
  async page(
    upload: Upload,
    maxDistance: number,
    request: PageRequest,
    options: { usernames?: boolean } = {},
  ): Promise<PageResult<ListedUpload & { distance: number }>> {
    pageModeOnly(request);
    // Not analysed yet (or the backfill has not reached it): nothing to compare with.
    const phash = upload.phash;
    const all = phash
      ? await this.cache.getOrSet(
          await this.listings.key(upload.userId, `similar:${upload.id}:${phash}:d${maxDistance}`),
          () => this.neighbours(upload.userId, upload.id, phash, maxDistance),
          PAGE_CACHE_TTL_MS,
        )
      : [];
    const { items, count } = memoryPage(all, request);
    const bodies = await this.bodies.byId(
      items.map(([id]) => id),
      options,
    );
    return {
      mode: 'page',
      count,
      items: items.flatMap(([id, distance]) => {
        const body = bodies.get(id);
        return body ? [{ ...body, distance }] : [];
      }),
    };
  }

  /** The owner's hashes from the index, compared in memory; ties ordered by upload time. */
  private neighbours(userId: number, uploadId: string, phash: string, maxDistance: number): Promise<Neighbour[]> {
    return withReadConnection(this.dataSource, async (manager) => {
      const found = new PhashSet(await this.repository.hashes(manager, [userId])).within(phash, maxDistance, uploadId);
      const createdAt = await this.repository.createdAt(
        manager,
        userId,
        found.map((f) => f.id),
      );
      return (
        found
          // Deleted since the hashes were read.
          .filter((f) => createdAt.has(f.id))
          .sort(
            (a, b) =>
              a.distance - b.distance ||
              createdAt.get(b.id)! - createdAt.get(a.id)! ||
              (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
          )
          .map((f): Neighbour => [f.id, f.distance])
      );
    });
  }
}
