import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  IsDate,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateBy,
} from 'class-validator';
import { PageQueryDto } from '@echo/pagination';
import { ACCEPTED_TYPES } from '../intake/image-type.js';
import { ORIENTATIONS } from '../search/orientation.js';
import { searchWords } from '../search/words.js';
import { LATEST_ANALYSIS_STATUSES, type LatestAnalysisStatus } from '../contracts/analysis-summary.reader.js';

export const UPLOAD_ORDERINGS = ['-created_at', 'created_at', '-taken_at', 'taken_at'] as const;
export type UploadOrdering = (typeof UPLOAD_ORDERINGS)[number];

/** Decoded formats the analyzer reports (sharp's names; HEIF files are heic, avif or heif). */
export const DECODED_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'heic', 'avif', 'heif'] as const;

/** ΔE*ab (CIE76) a `color` search accepts by default: the same colour family, not only near-identical shades. */
export const DEFAULT_COLOR_DISTANCE = 15;

/** django-filter's BooleanFilter spellings; anything else is left as is and fails validation. */
const toBoolean = ({ value }: { value: unknown }) =>
  ({ true: true, false: false, '1': true, '0': false })[String(value).toLowerCase()] ?? value;
const BOOLEAN_MESSAGE = 'Must be true or false.';
const DATE_MESSAGE = 'Enter a valid date/time.';
const INTEGER_MESSAGE = 'A valid integer is required.';
// DRF's own wording for bounds, so clients see the messages they were written against.
const atLeast = (n: number) => ({ message: `Ensure this value is greater than or equal to ${n}.` });
const atMost = (n: number) => ({ message: `Ensure this value is less than or equal to ${n}.` });
const maxChars = (n: number) => ({ message: `Ensure this field has no more than ${n} characters.` });
const NOT_BLANK = { message: 'This field may not be blank.' };

/** `q` must hold a word the word index can look up (letters or digits), else it would filter nothing. */
function HasSearchWord() {
  return ValidateBy({
    name: 'hasSearchWord',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && searchWords(value).length > 0,
      defaultMessage: () => 'Enter at least one word (letters or digits).',
    },
  });
}

export class UploadsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: ACCEPTED_TYPES })
  @IsOptional()
  @IsIn(ACCEPTED_TYPES)
  content_type?: string;

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

  @ApiPropertyOptional({
    format: 'date-time',
    description: 'taken_at ≥ this instant (EXIF taken-at, else the upload time; see taken_at)',
  })
  @IsOptional()
  @Type(() => Date)
  @IsDate({ message: DATE_MESSAGE })
  taken_after?: Date;

  @ApiPropertyOptional({ format: 'date-time', description: 'taken_at < this instant' })
  @IsOptional()
  @Type(() => Date)
  @IsDate({ message: DATE_MESSAGE })
  taken_before?: Date;

  @ApiPropertyOptional({ enum: UPLOAD_ORDERINGS, default: '-created_at', description: '`-` = newest first' })
  @IsOptional()
  @IsIn(UPLOAD_ORDERINGS, { message: `Must be one of: ${UPLOAD_ORDERINGS.join(', ')}.` })
  ordering?: UploadOrdering;

  @ApiPropertyOptional({ description: 'EXIF camera make, case-insensitive exact (e.g. apple)', maxLength: 64 })
  @IsOptional()
  @IsString()
  @MinLength(1, NOT_BLANK)
  @MaxLength(64, maxChars(64))
  camera_make?: string;

  @ApiPropertyOptional({ description: 'EXIF camera model, case-insensitive exact (e.g. iphone 15 pro)', maxLength: 64 })
  @IsOptional()
  @IsString()
  @MinLength(1, NOT_BLANK)
  @MaxLength(64, maxChars(64))
  camera_model?: string;

  @ApiPropertyOptional({ type: Boolean, description: 'The photo records a location (EXIF GPS)' })
  @IsOptional()
  @Transform(toBoolean)
  @IsIn([true, false], { message: BOOLEAN_MESSAGE })
  has_gps?: boolean;

  @ApiPropertyOptional({ enum: ORIENTATIONS, description: 'Of the displayed size; within 1 % is square' })
  @IsOptional()
  @IsIn(ORIENTATIONS)
  orientation?: (typeof ORIENTATIONS)[number];

  @ApiPropertyOptional({ type: Number, minimum: 1, description: 'Displayed width ≥ this (px)' })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: INTEGER_MESSAGE })
  @Min(1, atLeast(1))
  @Max(1_000_000, atMost(1000000))
  min_width?: number;

  @ApiPropertyOptional({ type: Number, minimum: 1, description: 'Displayed height ≥ this (px)' })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: INTEGER_MESSAGE })
  @Min(1, atLeast(1))
  @Max(1_000_000, atMost(1000000))
  min_height?: number;

  @ApiPropertyOptional({ enum: DECODED_FORMATS, description: 'The decoded format (a HEIC named .jpg is heic)' })
  @IsOptional()
  @IsIn(DECODED_FORMATS)
  format?: (typeof DECODED_FORMATS)[number];

  @ApiPropertyOptional({
    example: '#3366cc',
    description:
      'Dominant colour near this one (CIELAB ΔE*ab ≤ color_distance); `#` may be omitted (in a URL it is %23)',
  })
  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' && /^[0-9a-fA-F]{6}$/.test(value) ? `#${value}` : value))
  @Matches(/^#[0-9a-fA-F]{6}$/, { message: 'Must be a colour as #rrggbb.' })
  color?: string;

  @ApiPropertyOptional({
    type: Number,
    default: DEFAULT_COLOR_DISTANCE,
    minimum: 0,
    maximum: 100,
    description: 'ΔE*ab for `color`: ~2 barely visible, 10 close shades, 15 same colour family, 30 loose',
  })
  @IsOptional()
  @Type(() => Number)
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'A valid number is required.' })
  @Min(0, atLeast(0))
  @Max(100, atMost(100))
  color_distance?: number;

  @ApiPropertyOptional({ type: Boolean, description: 'Sharpness below the blur threshold (see docs/api.md)' })
  @IsOptional()
  @Transform(toBoolean)
  @IsIn([true, false], { message: BOOLEAN_MESSAGE })
  blurry?: boolean;

  @ApiPropertyOptional({
    maxLength: 100,
    description:
      'Words that must all appear, as whole words, in the title or the original file name (case-insensitive; file names split at _ . - and other punctuation)',
  })
  @IsOptional()
  @IsString()
  @MaxLength(100, maxChars(100))
  @HasSearchWord()
  q?: string;
}

export class AdminUploadsQueryDto extends UploadsQueryDto {
  @ApiPropertyOptional()
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  user_id?: number;

  @ApiPropertyOptional({
    enum: LATEST_ANALYSIS_STATUSES,
    description: "The status of the upload's latest analysis (the one its `analysis` field shows)",
  })
  @IsOptional()
  @IsIn(LATEST_ANALYSIS_STATUSES, { message: `Must be one of: ${LATEST_ANALYSIS_STATUSES.join(', ')}.` })
  analysis_status?: LatestAnalysisStatus;
}
