import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsDate, IsInt, IsOptional, IsString, MaxLength, Min } from 'class-validator';
import { PageQueryDto } from '@echo/pagination';

const DATE_MESSAGE = 'Enter a valid date/time.';

export class AuditLogQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ type: 'integer' })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'A valid integer is required.' })
  @Min(1, { message: 'Ensure this value is greater than or equal to 1.' })
  actor_id?: number;

  @ApiPropertyOptional({ description: 'e.g. user.update, upload.delete, admin.sign_in_failed' })
  @IsOptional()
  @IsString()
  @MaxLength(64, { message: 'Ensure this field has no more than 64 characters.' })
  action?: string;

  @ApiPropertyOptional({ description: 'user, upload or analysis' })
  @IsOptional()
  @IsString()
  @MaxLength(32, { message: 'Ensure this field has no more than 32 characters.' })
  target_type?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(64, { message: 'Ensure this field has no more than 64 characters.' })
  target_id?: string;

  @ApiPropertyOptional({ format: 'date-time', description: 'created_at ≥ this instant' })
  @IsOptional()
  @Type(() => Date)
  @IsDate({ message: DATE_MESSAGE })
  created_after?: Date;

  @ApiPropertyOptional({ format: 'date-time', description: 'created_at < this instant' })
  @IsOptional()
  @Type(() => Date)
  @IsDate({ message: DATE_MESSAGE })
  created_before?: Date;
}
