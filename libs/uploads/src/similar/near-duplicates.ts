import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { DataSource } from 'typeorm';
import { withReadConnection } from '@echo/database';
import { CacheService } from '@echo/cache';
import { PAGE_CACHE_TTL_MS } from '@echo/pagination';
import { UploadListings } from '../contracts/upload-listings.js';
import { NEAR_DUPLICATE_MAX_DISTANCE } from '../search/phash.js';
import { SimilarRepository } from './similar.repository.js';
import { PhashSet } from './phash-set.js';

/** Ids an analysis lists in `near_duplicates`, nearest first. */
export const MAX_NEAR_DUPLICATES = 50;

/** Whose near-duplicates: an analysis' hash and the upload it belongs to (never listed). */
export interface NearDuplicateQuery {
  userId: number;
  uploadId: string;
  phash: string | null | undefined;
}

/**
 * The `near_duplicates` of analysis objects, worked out when they are read: the owner's uploads
 * (other than the analysis' own) whose current pHash is within NEAR_DUPLICATE_MAX_DISTANCE bits,
 * nearest first, at most MAX_NEAR_DUPLICATES. Symmetric (an upload analysed first lists the copy
 * uploaded after it) and current (a deleted upload has left the table, so it drops out).
 */
@Injectable()
export class NearDuplicates {
  constructor(
    private readonly dataSource: DataSource,
    private readonly repository: SimilarRepository,
    private readonly listings: UploadListings,
    private readonly cache: CacheService,
  ) {}

  /**
   * For a list page: one hash read for every owner on it (on `manager`, the page's connection,
   * when given), whatever the number of rows. Answers in the order asked; [] without a hash.
   */
  async lists(queries: readonly NearDuplicateQuery[], manager?: EntityManager): Promise<string[][]> {
    const owners = [...new Set(queries.filter((q) => q.phash).map((q) => q.userId))];
    if (!owners.length) return queries.map(() => []);
    const read = (m: EntityManager) => this.repository.hashes(m, owners);
    const rows = manager ? await read(manager) : await withReadConnection(this.dataSource, read);
    const byOwner = new Map<number, { id: string; phash: string }[]>();
    for (const row of rows) {
      const owner = Number(row.user_id);
      let list = byOwner.get(owner);
      if (!list) byOwner.set(owner, (list = []));
      list.push(row);
    }
    const sets = new Map([...byOwner].map(([owner, list]) => [owner, new PhashSet(list)]));
    return queries.map((q) =>
      q.phash
        ? (sets.get(q.userId)?.within(q.phash, NEAR_DUPLICATE_MAX_DISTANCE, q.uploadId, MAX_NEAR_DUPLICATES) ?? []).map(
            (found) => found.id,
          )
        : [],
    );
  }

  /**
   * For one analysis (a detail): kept under the owner's upload-list version, which every upload,
   * delete and finished analysis moves on, so a repeat read costs no hash read.
   */
  async of(query: NearDuplicateQuery): Promise<string[]> {
    if (!query.phash) return [];
    const key = await this.listings.key(query.userId, `near:${query.uploadId}:${query.phash}`);
    return this.cache.getOrSet(key, async () => (await this.lists([query]))[0], PAGE_CACHE_TTL_MS);
  }
}
