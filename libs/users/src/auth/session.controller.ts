import {
  Body,
  Controller,
  HttpCode,
  Post,
  Req,
  Res,
  UnauthorizedException,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiForbiddenResponse,
  ApiHeader,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '@echo/http';
import { AuthService } from './auth.service.js';
import { AuthThrottleGuard, ChecksPassword } from '../throttling/auth-throttle.guard.js';
import { AdminSignInAuditInterceptor } from './admin-sign-in-audit.interceptor.js';
import { LoginDto } from '../dto/auth.dto.js';
import { AccessTokenResponse, SessionBodyDto } from './session.dto.js';
import { clearSessionCookie, readSessionCookie, SESSION_COOKIE, setSessionCookie } from './session-cookie.js';
import { CSRF_HEADER, SessionCsrfGuard } from './session-csrf.guard.js';

/**
 * The cookie flow, for browser clients that opt in (the admin console): the refresh token lives
 * in an HttpOnly cookie scoped to these routes and the page holds only the access token, in
 * memory. Same accounts, throttles, rotation and revocation as /api/auth/login and /refresh
 * (which stay as they are for mobile and other JSON clients). Every route is POST with a JSON
 * body and the X-Echo-CSRF header (SessionCsrfGuard).
 */
@ApiTags('auth')
@ApiHeader({
  name: CSRF_HEADER,
  required: true,
  description: 'Must be 1: a header an HTML form cannot send (CSRF defence); without it 403',
  schema: { type: 'string', enum: ['1'] },
})
@ApiForbiddenResponse({ description: '{"detail": "CSRF Failed: …"}: not JSON, no X-Echo-CSRF: 1, or cross-origin' })
@ApiTooManyRequestsResponse({ description: '{"detail": "Request was throttled. …"} with Retry-After' })
@Public()
@UseGuards(AuthThrottleGuard, SessionCsrfGuard)
@Controller('auth/session')
export class SessionController {
  constructor(private readonly auth: AuthService) {}

  @Post()
  @HttpCode(200)
  @ApiOkResponse({
    type: AccessTokenResponse,
    description: `Signed in: Set-Cookie ${SESSION_COOKIE} (HttpOnly, SameSite=Strict, Path=/api/auth/session, Secure over https, the refresh token's lifetime)`,
  })
  @ApiBadRequestResponse({ description: '{"<field>": ["message"]}' })
  @ApiUnauthorizedResponse({ description: '{"detail": "No active account found with the given credentials"}' })
  @ApiForbiddenResponse({
    description: 'CSRF (above), or the account is scheduled for deletion (as POST /api/auth/login answers)',
  })
  @ChecksPassword()
  @UseInterceptors(AdminSignInAuditInterceptor)
  async start(
    @Body() dto: LoginDto,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<AccessTokenResponse> {
    const session = await this.auth.startSession(dto);
    setSessionCookie(request, reply, session.refresh, session.expiresAt);
    reply.header('cache-control', 'no-store');
    return { access: session.access };
  }

  @Post('refresh')
  @ApiOkResponse({ type: AccessTokenResponse, description: 'A new access token; the cookie is rotated' })
  @ApiNoContentResponse({ description: 'No session cookie: nothing to refresh (signed out)' })
  @ApiUnauthorizedResponse({
    description: 'The cookie is invalid, expired, revoked or reused (reuse revokes its family); the cookie is cleared',
  })
  async refresh(
    @Body() _body: SessionBodyDto,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    reply.header('cache-control', 'no-store');
    const raw = readSessionCookie(request);
    // Signed out is a state, not an error: a page asking on load whether it has a session gets no 4xx.
    if (!raw) {
      reply.code(204).send();
      return;
    }
    try {
      const session = await this.auth.refreshSession(raw);
      setSessionCookie(request, reply, session.refresh, session.expiresAt);
      reply.code(200).send({ access: session.access } satisfies AccessTokenResponse);
    } catch (err) {
      // A dead cookie is dropped, so the browser stops sending it.
      if (err instanceof UnauthorizedException) clearSessionCookie(request, reply);
      throw err;
    }
  }

  @Post('logout')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'The cookie is cleared and its refresh token family revoked' })
  async logout(
    @Body() _body: SessionBodyDto,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<void> {
    const raw = readSessionCookie(request);
    clearSessionCookie(request, reply);
    reply.header('cache-control', 'no-store');
    // An unknown or already dead token: nothing to revoke, and signing out still succeeds.
    if (raw)
      await this.auth.logout(raw).catch((err: unknown) => {
        if (!(err instanceof UnauthorizedException)) throw err;
      });
  }
}
