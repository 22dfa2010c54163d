import { Body, Controller, Get, Patch } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Auth, CurrentUser } from './auth/auth.decorator.js';
import type { AuthUser } from './auth/auth-user.js';
import { UsersService } from './users.service.js';
import { UpdateMeDto } from './dto/update-me.dto.js';
import { UserResponse } from './user.response.js';

@ApiTags('users')
@Auth()
@Controller('users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  /** Served from the cache the auth guard already filled: no extra query. */
  @Get('me')
  @ApiOkResponse({ type: UserResponse })
  me(@CurrentUser() user: AuthUser): AuthUser {
    return user;
  }

  @Patch('me')
  @ApiOkResponse({ type: UserResponse })
  @ApiBadRequestResponse({ description: '{"<field>": ["message"]}' })
  update(@CurrentUser() user: AuthUser, @Body() dto: UpdateMeDto): Promise<UserResponse> {
    return this.users.updateMe(user.id, dto);
  }
}
