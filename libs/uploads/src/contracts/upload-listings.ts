import { Injectable } from '@nestjs/common';
import { CacheService } from '@echo/cache';

/** The cache version group of one user's upload listings (also the own-list body cache's, see UploadsController). */
export const uploadListGroup = (userId: number) => `uploads:${userId}`;
const group = uploadListGroup;

/**
 * The user's cached upload listings. Each upload object carries its latest analysis, so other
 * modules call `changed` when what they show in it changes, without knowing the cache key.
 */
@Injectable()
export class UploadListings {
  constructor(private readonly cache: CacheService) {}

  /** The cache key of one listing page, under the user's current version. */
  key(userId: number, page: string): Promise<string> {
    return this.cache.versioned(group(userId), page);
  }

  async changed(userId: number): Promise<void> {
    await this.cache.bump(group(userId));
  }
}
