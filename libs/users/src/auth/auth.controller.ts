import { Body, Controller, HttpCode, Post, UseGuards, UseInterceptors } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { NotPublic, Public } from '@echo/http';
import { Auth, CurrentUser } from './auth.decorator.js';
import type { AuthUser } from './auth-user.js';
import { AuthService } from './auth.service.js';
import { AuthThrottleGuard, ChecksPassword } from '../throttling/auth-throttle.guard.js';
import { AdminSignInAuditInterceptor } from './admin-sign-in-audit.interceptor.js';
import { LoginDto, RefreshDto, RegisterDto } from '../dto/auth.dto.js';
import { RegisterResponse, TokenPairResponse } from '../user.response.js';

@ApiTags('auth')
@ApiTooManyRequestsResponse({ description: '{"detail": "Request was throttled. …"} with Retry-After' })
@Public()
@UseGuards(AuthThrottleGuard)
@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Post('register')
  @ApiCreatedResponse({ type: RegisterResponse })
  @ApiBadRequestResponse({ description: '{"<field>": ["message"]}' })
  register(@Body() dto: RegisterDto): Promise<RegisterResponse> {
    return this.auth.register(dto);
  }

  @Post('login')
  @HttpCode(200)
  @ApiOkResponse({ type: TokenPairResponse })
  @ApiUnauthorizedResponse({ description: '{"detail": "No active account found with the given credentials"}' })
  @ApiForbiddenResponse({
    description:
      'Right password, but the account is scheduled for deletion: {"detail", "code": "account_pending_deletion", "delete_after", "restorable"} (restorable: POST /api/users/me/restore)',
  })
  @ChecksPassword()
  @UseInterceptors(AdminSignInAuditInterceptor)
  login(@Body() dto: LoginDto): Promise<TokenPairResponse> {
    return this.auth.login(dto);
  }

  @Post('refresh')
  @HttpCode(200)
  @ApiOkResponse({ type: TokenPairResponse })
  @ApiUnauthorizedResponse({ description: 'Invalid, expired or reused token (reuse revokes the whole token family)' })
  refresh(@Body() dto: RefreshDto): Promise<TokenPairResponse> {
    return this.auth.refresh(dto.refresh);
  }

  @Post('logout')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'The refresh token (and its family) is revoked' })
  async logout(@Body() dto: RefreshDto): Promise<void> {
    await this.auth.logout(dto.refresh);
  }

  @Post('logout-all')
  @NotPublic()
  @Auth()
  @HttpCode(204)
  @ApiNoContentResponse({
    description:
      'Every session of the caller ends: all refresh tokens revoked, every access token issued so far refused',
  })
  async logoutAll(@CurrentUser() user: AuthUser): Promise<void> {
    await this.auth.logoutEverywhere(user.id);
  }
}
