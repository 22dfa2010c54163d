import { Injectable } from '@nestjs/common';
import { CacheService } from '@echo/cache';
import { UploadListings } from '@echo/uploads';

/** The cache version group of one user's analysis listings. */
export const analysisListGroup = (userId: number) => `analyses:${userId}`;

/**
 * Cached listing pages that show an analysis' status: the user's analyses and their uploads
 * (each upload item carries its latest analysis). Every status change bumps both.
 */
@Injectable()
export class AnalysisLists {
  constructor(
    private readonly cache: CacheService,
    private readonly uploadListings: UploadListings,
  ) {}

  async changed(userId: number): Promise<void> {
    await Promise.all([this.cache.bump(analysisListGroup(userId)), this.uploadListings.changed(userId)]);
  }
}
