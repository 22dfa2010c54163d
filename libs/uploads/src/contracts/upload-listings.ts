import { Injectable } from '@nestjs/common';
import { CacheService } from '@echo/cache';
import { listCountKey, type PageBodyGroup } from '@echo/pagination';

/** The cache version group of one user's upload listings (also the own-list body cache's, see UploadsController). */
export const uploadListGroup = (userId: number) => `uploads:${userId}`;

/** The own uploads list's body cache group: `GET /api/uploads` (the interceptor and the API's early path share it). */
export const ownUploadsPageGroup: PageBodyGroup = (request) => uploadListGroup(request.user!.id);
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

  /** The total of one of the user's upload lists: shared by own and admin views (listCountKey). */
  countKey(userId: number, filters: object): Promise<string> {
    return listCountKey(this.cache, group(userId), filters);
  }

  async changed(userId: number): Promise<void> {
    await this.cache.bump(group(userId));
  }
}
