import { Controller, Delete, Get, HttpCode, Param, ParseIntPipe, ParseUUIDPipe, Query } from '@nestjs/common';
import { ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Audit, type AuditContext } from '@echo/audit-log';
import { PageParams, Paginated, type PageRequest, type PageResult } from '@echo/pagination';
import { Auth } from '@echo/users';
import { UploadsService } from './uploads.service.js';
import { AdminUploadsQueryDto, UploadsQueryDto } from './dto/uploads-query.dto.js';
import { AdminUploadResponse } from './upload.response.js';

/** The seed's admin_user_uploads, paginated (50 by default, at most 200), plus moderation. */
@ApiTags('admin')
@Auth({ admin: true })
@Controller('admin')
export class AdminUploadsController {
  constructor(private readonly uploads: UploadsService) {}

  @Get('users/:id/uploads')
  @Paginated(AdminUploadResponse)
  userUploads(
    @Param('id', ParseIntPipe) id: number,
    @Query() query: UploadsQueryDto,
    @PageParams() page: PageRequest,
  ): Promise<PageResult<AdminUploadResponse>> {
    return this.uploads.adminList(query, page, id);
  }

  @Get('uploads')
  @Paginated(AdminUploadResponse)
  all(@Query() query: AdminUploadsQueryDto, @PageParams() page: PageRequest): Promise<PageResult<AdminUploadResponse>> {
    return this.uploads.adminList(query, page);
  }

  @Get('uploads/:id')
  @ApiOkResponse({ type: AdminUploadResponse })
  @ApiNotFoundResponse()
  get(@Param('id', new ParseUUIDPipe({ version: 'all' })) id: string): Promise<AdminUploadResponse> {
    return this.uploads.adminGet(id);
  }

  /** Moderation: the file, thumbnail and analyses go with it. */
  @Delete('uploads/:id')
  @HttpCode(204)
  @ApiNoContentResponse()
  @ApiNotFoundResponse()
  async remove(
    @Param('id', new ParseUUIDPipe({ version: 'all' })) id: string,
    @Audit() audit: AuditContext,
  ): Promise<void> {
    await this.uploads.adminDelete(id, audit);
  }
}
