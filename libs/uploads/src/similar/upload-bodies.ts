import { Inject, Injectable, Optional } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { withReadConnection } from '@echo/database';
import { ANALYSIS_SUMMARY_READER, type AnalysisSummaryReader } from '../contracts/analysis-summary.reader.js';
import { MediaUrls } from '../media/media-urls.js';
import { uploadBodyFromRow, type UploadResponse } from '../upload.response.js';
import { SimilarRepository } from './similar.repository.js';

/** An upload object as lists show it, plus the owner's name on admin views. */
export type ListedUpload = UploadResponse & { username?: string };

/**
 * The upload objects of one page of a list worked out elsewhere (by distance, by group), exactly
 * as `GET /api/uploads` shows them: latest analysis, signed URLs, and the owner's username when
 * asked. One statement per page.
 */
@Injectable()
export class UploadBodies {
  constructor(
    private readonly dataSource: DataSource,
    private readonly repository: SimilarRepository,
    private readonly media: MediaUrls,
    @Optional() @Inject(ANALYSIS_SUMMARY_READER) private readonly analyses?: AnalysisSummaryReader,
  ) {}

  /** By id; ids of uploads deleted meanwhile are absent from the map. */
  async byId(ids: readonly string[], options: { usernames?: boolean } = {}): Promise<Map<string, ListedUpload>> {
    if (!ids.length) return new Map();
    const rows = await withReadConnection(this.dataSource, (manager) =>
      this.repository.rows(manager, ids, { analysis: this.analyses?.latestJoin('up'), usernames: options.usernames }),
    );
    const exp = this.media.expiry();
    const bodies = new Map<string, ListedUpload>();
    for (const row of rows) {
      const body = uploadBodyFromRow(row, this.analyses !== undefined);
      bodies.set(
        row.id,
        this.media.decorate(options.usernames ? { ...body, username: row.username ?? '' } : body, exp),
      );
    }
    return bodies;
  }
}
