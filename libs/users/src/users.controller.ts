import { Body, Controller, Get, Patch } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Auth, CurrentUser } from './auth/auth.decorator.js';
import type { AuthUser } from './auth/auth-user.js';
import { UsersService } from './users.service.js';
import { UpdateMeDto } from './dto/update-me.dto.js';
import { toUserResponse, UpdateMeResponse, UserResponse } from './user.response.js';
import { TokenService } from './auth/token.service.js';

@ApiTags('users')
@Auth()
@Controller('users')
export class UsersController {
  constructor(
    private readonly users: UsersService,
    private readonly tokens: TokenService,
  ) {}

  /** Served from the cache the auth guard already filled: no extra query. */
  @Get('me')
  @ApiOkResponse({ type: UserResponse })
  me(@CurrentUser() user: AuthUser): AuthUser {
    return user;
  }

  @Patch('me')
  @ApiOkResponse({ type: UpdateMeResponse })
  @ApiBadRequestResponse({ description: '{"<field>": ["message"]}' })
  async update(@CurrentUser() user: AuthUser, @Body() dto: UpdateMeDto): Promise<UpdateMeResponse> {
    const { user: updated, sessionsEnded } = await this.users.updateMe(user.id, dto);
    // Every session ended with the change; this client gets a fresh pair so it stays signed in.
    return sessionsEnded
      ? { ...toUserResponse(updated), ...(await this.tokens.issuePair(updated)) }
      : toUserResponse(updated);
  }
}
