import { ApiProperty } from '@nestjs/swagger';
import type { AnalysisResult } from './analyzer/analyze-image.js';
import {
  ANALYSIS_STATUSES,
  type AnalysisStatus,
  type StoredResult,
  type VisualAnalysis,
} from './visual-analysis.entity.js';

/**
 * The result on the wire: the analyzer's output plus `near_duplicates`, the owner's other uploads
 * whose pHash is within NEAR_DUPLICATE_MAX_DISTANCE bits, nearest first, at most 50, worked out
 * when read (NearDuplicates in @echo/uploads), never the list an old result stored.
 */
export type ResultBody = AnalysisResult & { near_duplicates: string[] };

/** A stored result on the wire with the near-duplicates read now (an old row's stored list dropped). */
export function resultBody(stored: StoredResult | null, nearDuplicates: string[]): ResultBody | null {
  if (!stored) return null;
  const { near_duplicates: _stale, ...result } = stored;
  return { ...result, near_duplicates: nearDuplicates };
}

/** The analysis object on the wire. */
export class AnalysisResponse {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) upload_id: string;
  @ApiProperty({ enum: ANALYSIS_STATUSES }) status: AnalysisStatus;
  @ApiProperty({ minimum: 0, maximum: 100 }) progress: number;
  @ApiProperty() attempts: number;
  @ApiProperty({ nullable: true, type: String, description: 'Why it failed, for the owner' }) error: string | null;
  @ApiProperty({
    nullable: true,
    type: 'object',
    additionalProperties: true,
    description:
      'format, width, height, orientation, oriented_width, oriented_height, color_space, has_alpha, bit_depth, size, frames, exif, ' +
      'dominant_color, palette, brightness, contrast, sharpness, entropy, phash, placeholder, thumbnail, near_duplicates ' +
      "(ids of the owner's other uploads whose pHash is within 10 bits of this one's, nearest first, at most 50; current " +
      'when read: a copy uploaded later is listed, a deleted one is not)',
  })
  result: ResultBody | null;
  @ApiProperty() analyzer_version: string;
  @ApiProperty({ format: 'date-time' }) created_at: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) started_at: string | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) completed_at: string | null;
}

const iso = (d: Date | string | null) => (d ? new Date(d).toISOString() : null);

/** `nearDuplicates`: the result's, read by the caller (NearDuplicates); rows without a result have none. */
export function toAnalysisResponse(row: VisualAnalysis, nearDuplicates: string[] = []): AnalysisResponse {
  return {
    id: row.id,
    upload_id: row.uploadId,
    status: row.status,
    progress: row.progress,
    attempts: row.attempts,
    error: row.error,
    result: resultBody(row.result, nearDuplicates),
    analyzer_version: row.analyzerVersion,
    created_at: iso(row.createdAt)!,
    started_at: iso(row.startedAt),
    completed_at: iso(row.completedAt),
  };
}

/** The analysis object's columns as a hand-written list statement selects them (aliased `va`). */
export const ANALYSIS_COLUMNS =
  'va.id AS id, va.upload_id AS upload_id, va.status AS status, va.progress AS progress, va.attempts AS attempts, ' +
  'va.error AS error, va.result AS result, va.analyzer_version AS analyzer_version, va.created_at AS created_at, ' +
  'va.started_at AS started_at, va.completed_at AS completed_at';

export interface AnalysisRow {
  id: string;
  upload_id: string;
  status: AnalysisStatus;
  progress: number;
  attempts: number;
  error: string | null;
  /** simple-json: the text TypeORM wrote. */
  result: string | null;
  analyzer_version: string;
  created_at: unknown;
  started_at: unknown;
  completed_at: unknown;
}

/**
 * A list row straight to the wire shape; `at`: the driver's datetime as ISO text (null stays null).
 * `near_duplicates` is empty here: the list fills it for the whole page (withNearDuplicates).
 */
export function analysisFromRow(row: AnalysisRow, at: (value: unknown) => string | null): AnalysisResponse {
  return {
    id: row.id,
    upload_id: row.upload_id,
    status: row.status,
    progress: Number(row.progress),
    attempts: Number(row.attempts),
    error: row.error,
    result: resultBody(row.result ? (JSON.parse(row.result) as StoredResult) : null, []),
    analyzer_version: row.analyzer_version,
    created_at: at(row.created_at)!,
    started_at: at(row.started_at),
    completed_at: at(row.completed_at),
  };
}

/** Admin listings also name the owner. */
export class AdminAnalysisResponse extends AnalysisResponse {
  @ApiProperty() user_id: number;
}

export function toAdminAnalysisResponse(row: VisualAnalysis, nearDuplicates: string[] = []): AdminAnalysisResponse {
  return { ...toAnalysisResponse(row, nearDuplicates), user_id: row.userId };
}

/** The analysis object with these near-duplicates in its result (none without a result). */
export function withNearDuplicates<A extends AnalysisResponse>(analysis: A, nearDuplicates: string[]): A {
  return analysis.result ? { ...analysis, result: { ...analysis.result, near_duplicates: nearDuplicates } } : analysis;
}
