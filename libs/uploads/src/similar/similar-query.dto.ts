import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsOptional, ValidateBy, type ValidationArguments } from 'class-validator';
import { PageQueryDto } from '@echo/pagination';
import { MAX_DUPLICATE_DISTANCE, MAX_PHASH_DISTANCE, NEAR_DUPLICATE_MAX_DISTANCE } from '../search/phash.js';

/** `?max_distance=` as DRF's IntegerField reads it: digits (spaces around allowed), else refused; empty = absent. */
const toInteger = ({ value }: { value: unknown }) =>
  value === '' ? undefined : typeof value === 'string' && /^\s*-?\d{1,9}\s*$/.test(value) ? Number(value) : value;

/** One message per bad value, DRF's: not an integer, or which bound it crosses. */
function IsPhashDistance(max: number) {
  return ValidateBy({
    name: 'isDistance',
    validator: {
      validate: (value: unknown) => typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max,
      defaultMessage: ({ value }: ValidationArguments) =>
        typeof value !== 'number' || !Number.isInteger(value)
          ? 'A valid integer is required.'
          : value < 0
            ? 'Ensure this value is greater than or equal to 0.'
            : `Ensure this value is less than or equal to ${max}.`,
    },
  });
}

export class SimilarQueryDto extends PageQueryDto {
  @ApiPropertyOptional({
    type: Number,
    minimum: 0,
    maximum: MAX_PHASH_DISTANCE,
    default: NEAR_DUPLICATE_MAX_DISTANCE,
    description:
      'Largest pHash Hamming distance (bits of 64) counted as similar: 0 the same picture, ' +
      `${NEAR_DUPLICATE_MAX_DISTANCE} (default) resized or re-encoded copies, higher looser`,
  })
  @IsOptional()
  @Transform(toInteger)
  @IsPhashDistance(MAX_PHASH_DISTANCE)
  max_distance?: number;
}

export class DuplicatesQueryDto extends PageQueryDto {
  @ApiPropertyOptional({
    type: Number,
    minimum: 0,
    maximum: MAX_DUPLICATE_DISTANCE,
    default: NEAR_DUPLICATE_MAX_DISTANCE,
    description:
      'Largest pHash Hamming distance (bits of 64) between two uploads of a group: 0 the same picture, ' +
      `${NEAR_DUPLICATE_MAX_DISTANCE} (default) resized or re-encoded copies, at most ${MAX_DUPLICATE_DISTANCE}`,
  })
  @IsOptional()
  @Transform(toInteger)
  @IsPhashDistance(MAX_DUPLICATE_DISTANCE)
  max_distance?: number;
}
