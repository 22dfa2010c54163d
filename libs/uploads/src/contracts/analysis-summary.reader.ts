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
  latestJoin(uploadAlias: string): { select: string; join: string };
}

export const ANALYSIS_SUMMARY_READER = Symbol('AnalysisSummaryReader');
