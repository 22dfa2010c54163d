import { Body, Controller, Get, Param, ParseIntPipe, Patch, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { PageParams, Paginated, type PageRequest, type PageResult } from '@echo/pagination';
import { Auth } from './auth/auth.decorator.js';
import { TokenService } from './auth/token.service.js';
import { UsersService } from './users.service.js';
import { AdminUpdateUserDto, AdminUsersQueryDto } from './dto/admin-users.dto.js';
import { UserResponse } from './user.response.js';

@ApiTags('admin')
@Auth({ admin: true })
@Controller('admin/users')
export class AdminUsersController {
  constructor(
    private readonly users: UsersService,
    private readonly tokens: TokenService,
  ) {}

  @Get()
  @Paginated(UserResponse)
  list(@Query() query: AdminUsersQueryDto, @PageParams() page: PageRequest): Promise<PageResult<UserResponse>> {
    return this.users.adminList(query, page);
  }

  @Get(':id')
  @ApiOkResponse({ type: UserResponse })
  @ApiNotFoundResponse()
  get(@Param('id', ParseIntPipe) id: number): Promise<UserResponse> {
    return this.users.adminGet(id);
  }

  /** Deactivation is immediate: the cached record is dropped and refresh tokens revoked. */
  @Patch(':id')
  @ApiOkResponse({ type: UserResponse })
  @ApiBadRequestResponse({ description: 'e.g. {"detail": "Cannot demote or deactivate the last active admin."}' })
  async update(@Param('id', ParseIntPipe) id: number, @Body() dto: AdminUpdateUserDto): Promise<UserResponse> {
    const { user, deactivated } = await this.users.adminUpdate(id, dto);
    if (deactivated) await this.tokens.revokeAllForUser(id);
    return user;
  }
}
