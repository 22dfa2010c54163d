import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsDefined, IsEmail, IsOptional, IsString, Matches, MaxLength, ValidateIf } from 'class-validator';
import { PASSWORD_MESSAGE, PASSWORD_RULE } from './auth.dto.js';

export class UpdateMeDto {
  @ApiPropertyOptional()
  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' ? value.trim() : value))
  @IsString()
  @MaxLength(150)
  display_name?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' ? value.trim().toLowerCase() : value))
  @IsEmail({}, { message: 'Enter a valid email address.' })
  @MaxLength(254)
  email?: string;

  @ApiPropertyOptional({ description: 'New password; needs current_password' })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  @Matches(PASSWORD_RULE, { message: PASSWORD_MESSAGE })
  password?: string;

  @ApiPropertyOptional({ description: 'Required to change the password or the email' })
  @ValidateIf((o: UpdateMeDto) => o.password !== undefined || o.email !== undefined)
  @IsDefined({ message: 'This field is required to change the password or email.' })
  @IsString()
  @MaxLength(128)
  current_password?: string;
}
