import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { Upload } from './upload.entity.js';
import type { AnalysisSummary } from './upload-hooks.js';

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
  @ApiProperty() width: number;
  @ApiProperty() height: number;
  @ApiProperty({ format: 'date-time' }) created_at: string;
  @ApiPropertyOptional({ type: AnalysisSummaryResponse, nullable: true, description: 'latest analysis' })
  analysis?: AnalysisSummary | null;
}

/** Admin listings also name the owner. */
export class AdminUploadResponse extends UploadResponse {
  @ApiProperty() username: string;
}

/** 200 for the same bytes uploaded again. */
export class DuplicateUploadResponse extends UploadResponse {
  @ApiProperty({ example: true }) duplicate: true;
}

export function toUploadResponse(upload: Upload, analysis?: AnalysisSummary | null): UploadResponse {
  const body: UploadResponse = {
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
  };
  if (analysis !== undefined) body.analysis = analysis;
  return body;
}
