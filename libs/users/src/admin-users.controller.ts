import { Body, Controller, Get, HttpCode, Param, ParseIntPipe, Patch, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiTags,
} from '@nestjs/swagger';
import { PageParams, Paginated, type PageRequest, type PageResult } from '@echo/pagination';
import { Audit, type AuditContext } from '@echo/audit-log';
import { Auth } from './auth/auth.decorator.js';
import { UsersService } from './users.service.js';
import { AdminUpdateUserDto, AdminUsersQueryDto } from './dto/admin-users.dto.js';
import { AdminUserResponse } from './user.response.js';

@ApiTags('admin')
@Auth({ admin: true })
@Controller('admin/users')
export class AdminUsersController {
  constructor(private readonly users: UsersService) {}

  @Get()
  @Paginated(AdminUserResponse)
  list(@Query() query: AdminUsersQueryDto, @PageParams() page: PageRequest): Promise<PageResult<AdminUserResponse>> {
    return this.users.adminList(query, page);
  }

  @Get(':id')
  @ApiOkResponse({ type: AdminUserResponse })
  @ApiNotFoundResponse()
  get(@Param('id', ParseIntPipe) id: number): Promise<AdminUserResponse> {
    return this.users.adminGet(id);
  }

  /** Deactivation is immediate: the cached record is dropped and every session ended. */
  @Patch(':id')
  @ApiOkResponse({ type: AdminUserResponse })
  @ApiBadRequestResponse({ description: 'e.g. {"detail": "Cannot demote or deactivate the last active admin."}' })
  update(
    @Param('id', ParseIntPipe) id: number,
    @Body() dto: AdminUpdateUserDto,
    @Audit() audit: AuditContext,
  ): Promise<AdminUserResponse> {
    return this.users.adminUpdate(id, dto, audit);
  }

  /** "Sign out everywhere" for this user: every refresh token revoked, every access token refused. */
  @Post(':id/logout-all')
  @HttpCode(204)
  @ApiNoContentResponse()
  @ApiNotFoundResponse()
  async logoutAll(@Param('id', ParseIntPipe) id: number, @Audit() audit: AuditContext): Promise<void> {
    await this.users.endSessions(id, audit);
  }
}
