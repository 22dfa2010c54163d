import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { Upload } from './upload.entity.js';
import type { AnalysisSummary } from './contracts/analysis-summary.reader.js';

export class AnalysisSummaryResponse {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ enum: ['queued', 'processing', 'completed', 'failed'] }) status: string;
}

/** The upload object on the wire. */
export class UploadResponse {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() user_id: number;
  @ApiProperty() title: string;
  @ApiProperty() original_name: string;
  @ApiProperty({ example: 'image/jpeg' }) content_type: string;
  @ApiProperty({ description: 'bytes' }) size: number;
  @ApiProperty({ description: 'hex SHA-256 of the bytes' }) sha256: string;
  @ApiProperty({
    description:
      "Displayed width in pixels: what a viewer shows (EXIF orientation and HEIF crop/rotation applied). From the header at upload, then the analysis' `oriented_width`.",
  })
  width: number;
  @ApiProperty({ description: 'Displayed height in pixels (see width).' })
  height: number;
  @ApiProperty({ format: 'date-time' }) created_at: string;
  @ApiProperty({
    format: 'date-time',
    description:
      'When the photo was taken (EXIF; without a recorded offset its wall-clock time read as UTC), else the upload time',
  })
  taken_at: string;
  @ApiPropertyOptional({ type: AnalysisSummaryResponse, nullable: true, description: 'latest analysis' })
  analysis?: AnalysisSummary | null;
  @ApiProperty({
    example: '/api/media/uploads/0b6a…/file?exp=1767225600&sig=…',
    description:
      'Signed URL of the bytes (no Authorization header needed; expires, see MEDIA_URL_TTL_SECONDS). Relative to the API origin.',
  })
  file_url: string;
  @ApiProperty({
    example: '/api/media/uploads/0b6a…/thumbnail?exp=1767225600&sig=…',
    description: 'Signed URL of the WebP thumbnail; 404 until an analysis has made it.',
  })
  thumbnail_url: string;
  @ApiProperty({
    example: '/api/media/uploads/0b6a…/preview?exp=1767225600&sig=…',
    description:
      'Signed URL of the display rendition, for every format (HEIC and TIFF included): long edge at most 2048 px, upright, sRGB, first frame. The original itself when a browser shows it as is (a JPEG, PNG or WebP within that size, upright, 8-bit sRGB, one frame), else a WebP. 404 until an analysis has made it.',
  })
  preview_url: string;
}

/** The upload object before MediaUrls adds its signed URLs (what listings cache). */
export type UploadBody = Omit<UploadResponse, 'file_url' | 'thumbnail_url' | 'preview_url'>;

/** Admin listings also name the owner. */
export class AdminUploadResponse extends UploadResponse {
  @ApiProperty() username: string;
}

/** 200 for the same bytes uploaded again. */
export class DuplicateUploadResponse extends UploadResponse {
  @ApiProperty({ example: true }) duplicate: true;
}

export function toUploadResponse(upload: Upload, analysis?: AnalysisSummary | null): UploadBody {
  const body: UploadBody = {
    id: upload.id,
    user_id: upload.userId,
    title: upload.title,
    original_name: upload.originalName,
    content_type: upload.contentType,
    size: Number(upload.size),
    sha256: upload.sha256,
    width: upload.width,
    height: upload.height,
    created_at: new Date(upload.createdAt).toISOString(),
    taken_at: new Date(upload.takenAt ?? upload.createdAt).toISOString(),
  };
  if (analysis !== undefined) body.analysis = analysis;
  return body;
}

/** The upload object's columns as a hand-written list statement selects them (uploads aliased `up`). */
export const UPLOAD_COLUMNS =
  'up.id AS id, up.user_id AS user_id, up.title AS title, up.original_name AS original_name, ' +
  'up.content_type AS content_type, up.size AS size, up.sha256 AS sha256, up.width AS width, ' +
  'up.height AS height, up.created_at AS created_at, up.taken_at AS taken_at';

/** A row of such a statement: the wire names already, plus the latest analysis and the owner when joined. */
export interface UploadRow {
  id: string;
  user_id: number;
  title: string;
  original_name: string;
  content_type: string;
  size: number | string;
  sha256: string;
  width: number;
  height: number;
  /** As the driver returns it; a Date once the repository has read it. */
  created_at: unknown;
  /** Likewise (null only on a row the search backfill has not reached). */
  taken_at: unknown;
  analysis_id?: string | null;
  analysis_status?: string | null;
  username?: string;
}

/**
 * A list row straight to the wire shape (no entity in between). `withAnalysis`: the statement
 * joined the latest analysis (the field is then present, null without one).
 */
export function uploadBodyFromRow(row: UploadRow, withAnalysis: boolean): UploadBody {
  const body: UploadBody = {
    id: row.id,
    user_id: Number(row.user_id),
    title: row.title,
    original_name: row.original_name,
    content_type: row.content_type,
    size: Number(row.size),
    sha256: row.sha256,
    width: Number(row.width),
    height: Number(row.height),
    created_at: (row.created_at as Date).toISOString(),
    taken_at: ((row.taken_at ?? row.created_at) as Date).toISOString(),
  };
  if (withAnalysis)
    body.analysis = row.analysis_id ? { id: row.analysis_id, status: row.analysis_status as string } : null;
  return body;
}
