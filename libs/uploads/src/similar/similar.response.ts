import { ApiProperty } from '@nestjs/swagger';
import { UploadResponse } from '../upload.response.js';
import { MAX_PHASH_DISTANCE } from '../search/phash.js';

/** An upload object in a similar-photos page: how far its pHash is from the upload asked about. */
export class SimilarUploadResponse extends UploadResponse {
  @ApiProperty({
    minimum: 0,
    maximum: MAX_PHASH_DISTANCE,
    example: 3,
    description: 'pHash Hamming distance to the upload asked about, in bits of 64 (0: the same picture)',
  })
  distance: number;
}

/** The admin's view also names the owner. */
export class AdminSimilarUploadResponse extends SimilarUploadResponse {
  @ApiProperty() username: string;
}

/** A group of near-duplicates (connected: each member is within the distance of another). */
export class DuplicateGroupResponse {
  @ApiProperty({ minimum: 2, description: 'How many uploads the group has' })
  size: number;

  @ApiProperty({
    type: [UploadResponse],
    description:
      'The group, the largest picture (width × height) first, then the largest file: the first is the one to keep. ' +
      'At most 100 (`size` counts them all).',
  })
  uploads: UploadResponse[];
}
