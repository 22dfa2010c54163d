import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { ArrayMaxSize, IsIn, IsInt, IsOptional, IsUUID, Min } from 'class-validator';
import { PageQueryDto } from '@echo/pagination';
import { ANALYSIS_STATUSES, type AnalysisStatus } from '../visual-analysis.entity.js';

export class AnalysisQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: ANALYSIS_STATUSES })
  @IsOptional()
  @IsIn(ANALYSIS_STATUSES)
  status?: AnalysisStatus;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID('all', { message: 'Must be a valid UUID.' })
  upload_id?: string;
}

export class CreateAnalysisDto {
  @ApiProperty({ format: 'uuid', description: 'One of your uploads' })
  @IsUUID('all', { message: 'Must be a valid UUID.' })
  upload_id: string;
}

export const ADMIN_ANALYSIS_FILTERS = [...ANALYSIS_STATUSES, 'stuck'] as const;

/** Admin: anyone's analyses; `stuck` = queued or processing past ANALYSIS_STUCK_AFTER_SECONDS. */
export class AdminAnalysisQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: ADMIN_ANALYSIS_FILTERS })
  @IsOptional()
  @IsIn(ADMIN_ANALYSIS_FILTERS)
  status?: (typeof ADMIN_ANALYSIS_FILTERS)[number];

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID('all', { message: 'Must be a valid UUID.' })
  upload_id?: string;

  /** A grid page's uploads at once (their placeholders): comma-separated, at most 200. */
  @ApiPropertyOptional({ type: String, description: 'comma-separated upload ids (at most 200)' })
  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' ? value.split(',').filter(Boolean) : value))
  @ArrayMaxSize(200, { message: 'At most 200 ids.' })
  @IsUUID('all', { each: true, message: 'Must be comma-separated UUIDs.' })
  upload_ids?: string[];

  @ApiPropertyOptional({ type: Number })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'A valid integer is required.' })
  @Min(1)
  user_id?: number;
}
