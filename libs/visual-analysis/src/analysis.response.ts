import { ApiProperty } from '@nestjs/swagger';
import {
  ANALYSIS_STATUSES,
  type AnalysisStatus,
  type StoredResult,
  type VisualAnalysis,
} from './visual-analysis.entity.js';

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
      'dominant_color, palette, brightness, contrast, sharpness, entropy, phash, placeholder, thumbnail, near_duplicates',
  })
  result: StoredResult | null;
  @ApiProperty() analyzer_version: string;
  @ApiProperty({ format: 'date-time' }) created_at: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) started_at: string | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) completed_at: string | null;
}

const iso = (d: Date | string | null) => (d ? new Date(d).toISOString() : null);

export function toAnalysisResponse(row: VisualAnalysis): AnalysisResponse {
  return {
    id: row.id,
    upload_id: row.uploadId,
    status: row.status,
    progress: row.progress,
    attempts: row.attempts,
    error: row.error,
    result: row.result,
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

/** A list row straight to the wire shape; `at`: the driver's datetime as ISO text (null stays null). */
export function analysisFromRow(row: AnalysisRow, at: (value: unknown) => string | null): AnalysisResponse {
  return {
    id: row.id,
    upload_id: row.upload_id,
    status: row.status,
    progress: Number(row.progress),
    attempts: Number(row.attempts),
    error: row.error,
    result: row.result ? (JSON.parse(row.result) as StoredResult) : null,
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

export function toAdminAnalysisResponse(row: VisualAnalysis): AdminAnalysisResponse {
  return { ...toAnalysisResponse(row), user_id: row.userId };
}
