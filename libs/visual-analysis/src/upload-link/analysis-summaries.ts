import { Injectable } from '@nestjs/common';
import type { AnalysisSummary, AnalysisSummaryReader, LatestAnalysisSql } from '@echo/uploads';
import { AnalysesRepository } from '../analyses.repository.js';

/** Uploads' ANALYSIS_SUMMARY_READER: the `analysis` field of upload objects. */
@Injectable()
export class AnalysisSummaries implements AnalysisSummaryReader {
  constructor(private readonly analyses: AnalysesRepository) {}

  latestFor(uploadIds: readonly string[]): Promise<Map<string, AnalysisSummary>> {
    return uploadIds.length ? this.analyses.latestPerUpload(uploadIds) : Promise.resolve(new Map());
  }

  latestJoin(uploadAlias: string): LatestAnalysisSql {
    return this.analyses.latestJoin(uploadAlias);
  }
}
