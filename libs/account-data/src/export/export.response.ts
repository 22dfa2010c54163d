import { ApiProperty } from '@nestjs/swagger';
import { EXPORT_STATUSES, type DataExport, type ExportStatus } from './export.entity.js';
import type { ExportUrls } from './export-urls.js';

/** The export object on the wire (POST/GET /api/users/me/export…, and `export` events). */
export class ExportResponse {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ enum: EXPORT_STATUSES }) status: ExportStatus;
  @ApiProperty({ description: 'Percent of the files written (0–100; 100 once completed)' }) progress: number;
  @ApiProperty({ type: Number, nullable: true, description: 'Archive size in bytes, once completed' })
  size: number | null;
  @ApiProperty({ type: String, nullable: true, description: 'Why it failed (readable), when failed' })
  error: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    example: '/api/media/exports/0b6a…?exp=1767225600&sig=…',
    description:
      'Signed URL of the ZIP (no Authorization header needed; Range works, so a broken download resumes), valid until expires_at; null until completed. Relative to the API origin.',
  })
  download_url: string | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When the archive (or a failed export) is removed: EXPORT_TTL_HOURS after it finished',
  })
  expires_at: string | null;
  @ApiProperty({ format: 'date-time' }) created_at: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) started_at: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) completed_at: string | null;
}

export class ExportListResponse {
  @ApiProperty({ type: [ExportResponse], description: 'Your exports still kept, newest first' })
  results: ExportResponse[];
}

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

/**
 * `tokenVersion`: the owner's current one, when known. An export requested before the owner's
 * sessions were ended downloads no more (ExportDownloadController), so it shows no link either.
 */
export function toExportResponse(row: DataExport, urls: ExportUrls, tokenVersion?: number): ExportResponse {
  const current = tokenVersion === undefined || row.tokenVersion === null || row.tokenVersion === tokenVersion;
  const downloadable = row.status === 'completed' && row.expiresAt !== null && current;
  return {
    id: row.id,
    status: row.status,
    progress: row.progress,
    size: row.size,
    error: row.error,
    download_url: downloadable ? urls.url(row.id, new Date(row.expiresAt!)) : null,
    expires_at: iso(row.expiresAt),
    created_at: new Date(row.createdAt).toISOString(),
    started_at: iso(row.startedAt),
    completed_at: iso(row.completedAt),
  };
}
