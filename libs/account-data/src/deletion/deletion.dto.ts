import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsNotEmpty, IsOptional, IsString, MaxLength } from 'class-validator';
import { toBool } from '@echo/config';

export class DeleteMeDto {
  @ApiProperty({ description: 'Your password: deleting an account asks for it again' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(128)
  current_password: string;
}

export class AdminDeleteQueryDto {
  @ApiPropertyOptional({ type: Boolean, description: 'true: purge at once, without a grace period' })
  @IsOptional()
  @Transform(toBool)
  @IsBoolean({ message: 'Must be true or false.' })
  now?: boolean;
}

/** 202 to a deletion request: when the purge runs, or that it runs now. */
export class DeletionStatusResponse {
  @ApiProperty({ enum: ['scheduled', 'purging'] }) status: 'scheduled' | 'purging';
  @ApiPropertyOptional({ format: 'date-time', description: 'With status "scheduled": the purge runs then' })
  delete_after?: string;
}
