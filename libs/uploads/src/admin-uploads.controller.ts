import { Controller, Get, Param, ParseIntPipe, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { PageParams, Paginated, type PageRequest, type PageResult } from '@echo/pagination';
import { Auth } from '@echo/users';
import { UploadsService } from './uploads.service.js';
import { AdminUploadsQueryDto, UploadsQueryDto } from './dto/uploads-query.dto.js';
import { AdminUploadResponse } from './upload.response.js';

/** The seed's admin_user_uploads, paginated (50 by default, at most 200). */
@ApiTags('admin')
@Auth({ admin: true })
@Controller('admin')
export class AdminUploadsController {
  constructor(private readonly uploads: UploadsService) {}

  @Get('users/:id/uploads')
  @Paginated(AdminUploadResponse)
  userUploads(@Param('id', ParseIntPipe) id: number, @Query() query: UploadsQueryDto, @PageParams() page: PageRequest): Promise<PageResult<AdminUploadResponse>> {
    return this.uploads.adminList(query, page, id);
  }

  @Get('uploads')
  @Paginated(AdminUploadResponse)
  all(@Query() query: AdminUploadsQueryDto, @PageParams() page: PageRequest): Promise<PageResult<AdminUploadResponse>> {
    return this.uploads.adminList(query, page);
  }
}
