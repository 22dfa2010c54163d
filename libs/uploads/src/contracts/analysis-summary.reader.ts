/** An upload's latest analysis as upload objects show it. */
export interface AnalysisSummary {
  id: string;
  status: string;
}

/**
 * Reads the latest analysis of each upload for upload objects, one query per page. Declared by
 * Uploads, provided by VisualAnalysis under ANALYSIS_SUMMARY_READER; with no provider (a process
 * without VisualAnalysis) upload objects have no `analysis` field.
 */
export interface AnalysisSummaryReader {
  /** Uploads without an analysis are absent from the map. */
  latestFor(uploadIds: readonly string[]): Promise<Map<string, AnalysisSummary>>;
  /**
   * The same for a hand-written list statement: a join onto the uploads aliased `uploadAlias` and
   * the columns it adds, `analysis_id` and `analysis_status` (null without an analysis).
   */
  latestJoin(uploadAlias: string): LatestAnalysisSql;
}

/** The statement parts an upload listing needs about its uploads' latest analyses. */
export interface LatestAnalysisSql {
  select: string;
  join: string;
  /**
   * A WHERE condition on the listed uploads alone (no join needed): their latest analysis, the
   * one `join` picks, has this status. `ownerId`: the listing is one owner's (a narrower index).
   */
  statusIs(status: LatestAnalysisStatus, ownerId?: number): { condition: string; params: unknown[] };
}

/** What an analysis' status can be (VisualAnalysis' ANALYSIS_STATUSES, which Uploads cannot import). */
export const LATEST_ANALYSIS_STATUSES = ['queued', 'processing', 'completed', 'failed'] as const;
export type LatestAnalysisStatus = (typeof LATEST_ANALYSIS_STATUSES)[number];

export const ANALYSIS_SUMMARY_READER = Symbol('AnalysisSummaryReader');
