import { Controller, Headers, HttpCode, Post } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { bearerToken } from '@echo/http';
import { Auth, CurrentUser, TokenService, type AuthUser } from '@echo/users';
import { StreamTickets } from './stream-tickets.js';

class StreamTicketResponse {
  @ApiProperty({ description: 'Opens GET /api/visual-analysis/events?ticket=… once, within 60 s' }) ticket: string;
}

@ApiTags('auth')
@Auth()
@Controller('auth')
export class StreamTicketController {
  private tokens?: TokenService;

  constructor(
    private readonly tickets: StreamTickets,
    private readonly moduleRef: ModuleRef,
  ) {}

  /** A ticket for browsers' EventSource, which cannot send the Authorization header. */
  @Post('stream-ticket')
  @HttpCode(200)
  @ApiOkResponse({ type: StreamTicketResponse })
  async issue(
    @CurrentUser() user: AuthUser,
    @Headers('authorization') authorization: string | undefined,
  ): Promise<StreamTicketResponse> {
    // The version of the access token the guard just accepted (a cache hit in TokenService), so the
    // ticket belongs to that session generation; UsersModule's service is looked up, not re-exported.
    this.tokens ??= this.moduleRef.get(TokenService, { strict: false });
    const { version } = await this.tokens.verifyAccess(bearerToken(authorization) ?? '');
    return { ticket: await this.tickets.issue({ userId: user.id, tokenVersion: version }) };
  }
}
