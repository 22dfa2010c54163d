import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiNotFoundResponse, ApiTags } from '@nestjs/swagger';
import { PageParams, Paginated, type PageRequest } from '@echo/pagination';
import { Auth, CurrentUser, type AuthUser } from '@echo/users';
import { NEAR_DUPLICATE_MAX_DISTANCE } from '../search/phash.js';
import { UploadsService } from '../uploads.service.js';
import { DuplicatesQueryDto, SimilarQueryDto } from './similar-query.dto.js';
import { DuplicateGroupResponse, SimilarUploadResponse } from './similar.response.js';
import { SimilarUploads } from './similar.service.js';
import { DuplicateGroups } from './duplicate-groups.service.js';

/**
 * The owner's similar photos and duplicate groups, by pHash distance. Page mode only (these lists
 * are ordered by distance and size, which no keyset follows). `duplicates` is a static segment:
 * Fastify's router prefers it to UploadsController's `:id` whatever the registration order.
 */
@ApiTags('uploads')
@Auth()
@Controller('uploads')
export class SimilarController {
  constructor(
    private readonly uploads: UploadsService,
    private readonly similar: SimilarUploads,
    private readonly duplicateGroups: DuplicateGroups,
  ) {}

  /** Groups of near-duplicates among your uploads, largest first; in each, the best to keep first. */
  @Get('duplicates')
  @Paginated(DuplicateGroupResponse)
  duplicates(@CurrentUser() user: AuthUser, @Query() query: DuplicatesQueryDto, @PageParams() page: PageRequest) {
    return this.duplicateGroups.page(user.id, query.max_distance ?? NEAR_DUPLICATE_MAX_DISTANCE, page);
  }

  /** Your other uploads that look like this one, nearest first (an upload not analysed yet has none). */
  @Get(':id/similar')
  @Paginated(SimilarUploadResponse)
  @ApiNotFoundResponse({ description: "Unknown, or another user's" })
  async similarTo(
    @CurrentUser() user: AuthUser,
    @Param('id') id: string,
    @Query() query: SimilarQueryDto,
    @PageParams() page: PageRequest,
  ) {
    const upload = await this.uploads.findOwn(user.id, id);
    return this.similar.page(upload, query.max_distance ?? NEAR_DUPLICATE_MAX_DISTANCE, page);
  }
}
