import { Controller, Get, Param, ParseUUIDPipe, Query } from '@nestjs/common';
import { ApiNotFoundResponse, ApiTags } from '@nestjs/swagger';
import { PageParams, Paginated, type PageRequest } from '@echo/pagination';
import { Auth } from '@echo/users';
import { NEAR_DUPLICATE_MAX_DISTANCE } from '../search/phash.js';
import { UploadsService } from '../uploads.service.js';
import { SimilarQueryDto } from './similar-query.dto.js';
import { AdminSimilarUploadResponse } from './similar.response.js';
import { SimilarUploads } from './similar.service.js';

/** The admin console's "similar" strip: any upload's look-alikes among its owner's uploads. */
@ApiTags('admin')
@Auth({ admin: true })
@Controller('admin')
export class AdminSimilarController {
  constructor(
    private readonly uploads: UploadsService,
    private readonly similar: SimilarUploads,
  ) {}

  @Get('uploads/:id/similar')
  @Paginated(AdminSimilarUploadResponse)
  @ApiNotFoundResponse()
  async similarTo(
    @Param('id', new ParseUUIDPipe({ version: 'all' })) id: string,
    @Query() query: SimilarQueryDto,
    @PageParams() page: PageRequest,
  ) {
    const upload = await this.uploads.findById(id);
    return this.similar.page(upload, query.max_distance ?? NEAR_DUPLICATE_MAX_DISTANCE, page, { usernames: true });
  }
}
