import { Injectable, Logger, Optional, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource, In, IsNull } from 'typeorm';
import { transactional } from '@echo/database';
import { Upload, UploadListings, UploadsRepository } from '@echo/uploads';
import { VisualAnalysis } from '../visual-analysis.entity.js';
import { searchAttributes } from './search-attributes.js';

const BATCH = 500;

/**
 * Fills the search columns of uploads made before they existed (UploadSearch1764600000000), then
 * the word index of uploads made before it (UploadWords1764800000000, UploadsRepository): a
 * row whose taken_at is null gets its latest completed analysis' attributes, or, without one, its
 * upload time as taken_at. Batches of 500, each its own short transaction touching only its rows
 * (no table lock; the API keeps serving). Runs once at start in the worker (and in the embedded
 * API); several processes may run it at once: a row is written only while still unfilled.
 */
@Injectable()
export class SearchBackfill implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('SearchBackfill');
  private stopping = false;
  private running?: Promise<number>;

  /** `listings`: absent in the CLI (no cache there; cached pages then age out by their TTL). */
  constructor(
    private readonly dataSource: DataSource,
    private readonly uploads: UploadsRepository,
    @Optional() private readonly listings?: UploadListings,
  ) {}

  onApplicationBootstrap(): void {
    this.running = this.run().catch((err: unknown) => {
      this.logger.warn(`search backfill stopped: ${(err as Error).message}`);
      return 0;
    });
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  /** Fills every unfilled row; returns how many it wrote. */
  async run(): Promise<number> {
    let filled = 0;
    for (;;) {
      if (this.stopping) return filled;
      const owners = await this.batch();
      if (!owners.length) break;
      filled += owners.length;
      // Cached pages show taken_at: the owners' listings change with it (after the batch committed).
      for (const userId of new Set(owners)) await this.listings?.changed(userId);
    }
    if (filled) this.logger.log(`search columns filled on ${filled} uploads`);
    // Then the word index (UploadWords1764800000000), after taken_at so the words copy it.
    let indexed = 0;
    for (let after: string | null = ''; after !== null && !this.stopping; indexed++)
      after = await transactional(this.dataSource, (manager) => this.uploads.indexMissingWords(manager, after!, BATCH));
    if (indexed > 1) this.logger.log(`word index filled in ${indexed - 1} batches`);
    return filled;
  }

  /** One batch; the owner of each row it filled. */
  private async batch(): Promise<number[]> {
    return transactional(this.dataSource, async (manager) => {
      // ix_uploads_taken: the unfilled rows are its leading NULLs.
      const rows = await manager.getRepository(Upload).find({
        select: { id: true, userId: true, createdAt: true },
        where: { takenAt: IsNull() },
        order: { id: 'ASC' },
        take: BATCH,
      });
      if (!rows.length) return [];
      const analyses = await manager.getRepository(VisualAnalysis).find({
        select: { uploadId: true, result: true, createdAt: true },
        where: { uploadId: In(rows.map((row) => row.id)), status: 'completed' },
        order: { createdAt: 'DESC' },
      });
      const latest = new Map<string, VisualAnalysis>();
      for (const a of analyses) if (!latest.has(a.uploadId)) latest.set(a.uploadId, a);
      for (const row of rows) {
        const result = latest.get(row.id)?.result;
        const attributes = result ? searchAttributes(result, row.createdAt) : { takenAt: row.createdAt };
        await this.uploads.recordAnalysis(manager, row.id, attributes, true);
      }
      return rows.map((row) => row.userId);
    });
  }
}
