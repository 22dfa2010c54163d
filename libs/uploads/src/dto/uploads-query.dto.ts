import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsDate, IsIn, IsInt, IsOptional, Min } from 'class-validator';
import { PageQueryDto } from '@echo/pagination';
import { ACCEPTED_TYPES } from '../intake/image-type.js';

export class UploadsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: ACCEPTED_TYPES })
  @IsOptional()
  @IsIn(ACCEPTED_TYPES)
  content_type?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'created_at ≥ this instant' })
  @IsOptional()
  @Type(() => Date)
  @IsDate({ message: 'Enter a valid date/time.' })
  created_after?: Date;

  @ApiPropertyOptional({ format: 'date-time', description: 'created_at < this instant' })
  @IsOptional()
  @Type(() => Date)
  @IsDate({ message: 'Enter a valid date/time.' })
  created_before?: Date;
}

export class AdminUploadsQueryDto extends UploadsQueryDto {
  @ApiPropertyOptional()
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  user_id?: number;
}
