import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsEmail, IsNotEmpty, IsOptional, IsString, Matches, MaxLength, MinLength, ValidateIf } from 'class-validator';

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);
const lower = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim().toLowerCase() : value);

export const USERNAME_RULE = /^[A-Za-z0-9_.@+-]+$/;
export const USERNAME_MESSAGE = 'Enter a valid username. It may contain only letters, numbers, and @/./+/-/_ characters.';

/** Minimum strength: length, and not only one kind of character. */
export const PASSWORD_RULE = /^(?=.*[A-Za-z])(?=.*[^A-Za-z]).{10,}$/s;
export const PASSWORD_MESSAGE = 'This password is too weak: use at least 10 characters, mixing letters with digits or symbols.';

export class RegisterDto {
  @ApiProperty({ example: 'alice' })
  @Transform(trim) @IsString() @MinLength(3) @MaxLength(150) @Matches(USERNAME_RULE, { message: USERNAME_MESSAGE })
  username: string;

  @ApiProperty({ example: 'alice@example.com' })
  @Transform(lower) @IsEmail({}, { message: 'Enter a valid email address.' }) @MaxLength(254)
  email: string;

  @ApiProperty({ example: 'correct horse 9' })
  @IsString() @MaxLength(128) @Matches(PASSWORD_RULE, { message: PASSWORD_MESSAGE })
  password: string;

  @ApiPropertyOptional()
  @IsOptional() @Transform(trim) @IsString() @MaxLength(150)
  display_name?: string;
}

export class LoginDto {
  @ApiPropertyOptional({ description: 'username or email is required' })
  @ValidateIf((o: LoginDto) => o.email === undefined) @Transform(trim) @IsString() @IsNotEmpty() @MaxLength(254)
  username?: string;

  @ApiPropertyOptional()
  @ValidateIf((o: LoginDto) => o.username === undefined) @Transform(lower) @IsString() @IsNotEmpty() @MaxLength(254)
  email?: string;

  @ApiProperty()
  @IsString() @IsNotEmpty() @MaxLength(128)
  password: string;
}

export class RefreshDto {
  @ApiProperty()
  @IsString() @IsNotEmpty() @MaxLength(200)
  refresh: string;
}
