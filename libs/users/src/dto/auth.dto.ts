import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  IsEmail,
  IsNotEmpty,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  MinLength,
  ValidateBy,
  ValidateIf,
  type ValidationArguments,
} from 'class-validator';

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);
const lower = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim().toLowerCase() : value);

export const USERNAME_RULE = /^[A-Za-z0-9_.@+-]+$/;
export const USERNAME_MESSAGE =
  'Enter a valid username. It may contain only letters, numbers, and @/./+/-/_ characters.';

/** Minimum strength: length, and not only one kind of character. */
export const PASSWORD_RULE = /^(?=.*[A-Za-z])(?=.*[^A-Za-z]).{10,}$/s;
export const PASSWORD_MESSAGE =
  'This password is too weak: use at least 10 characters, mixing letters with digits or symbols.';

export class RegisterDto {
  @ApiProperty({ example: 'alice' })
  @Transform(trim)
  @IsString()
  @MinLength(3)
  @MaxLength(150)
  @Matches(USERNAME_RULE, { message: USERNAME_MESSAGE })
  username: string;

  @ApiProperty({ example: 'alice@example.com' })
  @Transform(lower)
  @IsEmail({}, { message: 'Enter a valid email address.' })
  @MaxLength(254)
  email: string;

  @ApiProperty({ example: 'correct horse 9' })
  @IsString()
  @MaxLength(128)
  @Matches(PASSWORD_RULE, { message: PASSWORD_MESSAGE })
  password: string;

  @ApiPropertyOptional()
  @IsOptional()
  @Transform(trim)
  @IsString()
  @MaxLength(150)
  display_name?: string;
}

/** Refuses a second identifier next to `other`: a login names one account, one way. */
function NotTogetherWith(other: string) {
  return ValidateBy({
    name: 'notTogetherWith',
    constraints: [other],
    validator: {
      validate: (_: unknown, args?: ValidationArguments) =>
        (args?.object as Record<string, unknown>)[other] === undefined,
      defaultMessage: () => `Give either ${other} or email, not both.`,
    },
  });
}

/**
 * Exactly one identifier, and it must be a string. (Validating one only when the other was absent
 * let `{"username": ["bob"], "email": 0}` skip both checks, and a non-string identifier escaped
 * the per-account throttle.)
 */
export class LoginDto {
  @ApiPropertyOptional({ description: 'username or email (exactly one) is required' })
  @ValidateIf((o: LoginDto) => o.username !== undefined || o.email === undefined)
  @Transform(trim)
  @IsString()
  @IsNotEmpty()
  @MaxLength(254)
  username?: string;

  @ApiPropertyOptional()
  @ValidateIf((o: LoginDto) => o.email !== undefined)
  @NotTogetherWith('username')
  @Transform(lower)
  @IsString()
  @IsNotEmpty()
  @MaxLength(254)
  email?: string;

  @ApiProperty()
  @IsString()
  @IsNotEmpty()
  @MaxLength(128)
  password: string;
}

export class RefreshDto {
  @ApiProperty()
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  refresh: string;
}
