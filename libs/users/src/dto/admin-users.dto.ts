import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { toBool } from '@echo/config';
import { PageQueryDto } from '@echo/pagination';
import { ROLES, type Role } from '../user.entity.js';

export const USER_ORDERINGS = [
  'date_joined',
  '-date_joined',
  'username',
  '-username',
  'delete_after',
  '-delete_after',
] as const;

export class AdminUsersQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ type: Boolean })
  @IsOptional()
  @Transform(toBool)
  @IsBoolean({ message: 'Must be true or false.' })
  is_active?: boolean;

  @ApiPropertyOptional({ enum: ROLES })
  @IsOptional()
  @IsIn(ROLES)
  role?: Role;

  @ApiPropertyOptional({ type: Boolean, description: 'true: only accounts with a pending deletion; false: none' })
  @IsOptional()
  @Transform(toBool)
  @IsBoolean({ message: 'Must be true or false.' })
  deletion_scheduled?: boolean;

  @ApiPropertyOptional({ description: 'Prefix of username or email' })
  @IsOptional()
  @IsString()
  @MaxLength(150)
  search?: string;

  @ApiPropertyOptional({ enum: USER_ORDERINGS, default: '-date_joined' })
  @IsOptional()
  @IsIn(USER_ORDERINGS)
  ordering?: (typeof USER_ORDERINGS)[number];
}

export class AdminUpdateUserDto {
  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean()
  is_active?: boolean;

  @ApiPropertyOptional({ enum: ROLES })
  @IsOptional()
  @IsIn(ROLES)
  role?: Role;
}
