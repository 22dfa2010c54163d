import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsUUID } from 'class-validator';
import { PageQueryDto } from '@echo/pagination';
import { ANALYSIS_STATUSES, type AnalysisStatus } from '../visual-analysis.entity.js';

export class AnalysisQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: ANALYSIS_STATUSES })
  @IsOptional() @IsIn(ANALYSIS_STATUSES)
  status?: AnalysisStatus;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional() @IsUUID('all', { message: 'Must be a valid UUID.' })
  upload_id?: string;
}

export class CreateAnalysisDto {
  @ApiProperty({ format: 'uuid', description: 'One of your uploads' })
  @IsUUID('all', { message: 'Must be a valid UUID.' })
  upload_id: string;
}
