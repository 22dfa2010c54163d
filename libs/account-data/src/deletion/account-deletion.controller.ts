import { Body, Controller, Delete, HttpCode, Post, UseGuards, UseInterceptors } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiForbiddenResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { Public } from '@echo/http';
import {
  AdminSignInAuditInterceptor,
  Auth,
  AuthThrottleGuard,
  ChecksPassword,
  CurrentUser,
  LoginDto,
  TokenPairResponse,
  type AuthUser,
} from '@echo/users';
import { AccountDeletion } from './account-deletion.service.js';
import { DeleteMeDto, DeletionStatusResponse } from './deletion.dto.js';

@ApiTags('users')
@Controller('users/me')
export class AccountDeletionController {
  constructor(private readonly deletion: AccountDeletion) {}

  @Delete()
  @Auth()
  @HttpCode(202)
  @ApiOperation({
    summary: 'Delete your account',
    description:
      'Deactivates the account at once (every session ends) and purges all of its data (uploads, files, analyses, ' +
      'exports, sessions) after ACCOUNT_DELETE_GRACE_DAYS. Until then, POST /api/users/me/restore cancels it. ' +
      'With a zero grace period the purge starts now ({"status": "purging"}).',
  })
  @ApiAcceptedResponse({ type: DeletionStatusResponse })
  @ApiBadRequestResponse({
    description: '{"current_password": ["…"]}, or {"detail": "Cannot delete the last active admin."}',
  })
  requestDeletion(@CurrentUser() user: AuthUser, @Body() dto: DeleteMeDto): Promise<DeletionStatusResponse> {
    return this.deletion.requestOwn(user.id, dto.current_password);
  }

  @Post('restore')
  @Public()
  @UseGuards(AuthThrottleGuard)
  @ChecksPassword()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Cancel your account deletion and sign in',
    description:
      'During the grace period of a deletion you asked for: the credentials of POST /api/auth/login. The account is ' +
      'active again and the answer is what login answers.',
  })
  @ApiOkResponse({ type: TokenPairResponse })
  @ApiBadRequestResponse({ description: '{"detail": "This account is not scheduled for deletion."}' })
  @ApiUnauthorizedResponse({ description: '{"detail": "No active account found with the given credentials"}' })
  @ApiForbiddenResponse({
    description:
      'Not yours to restore (an admin asked), or the purge has begun: {"detail", "code": "account_pending_deletion", "delete_after", "restorable": false}',
  })
  @ApiTooManyRequestsResponse({ description: 'Throttled like login, with Retry-After' })
  // A wrong guess at an admin's password here is recorded as at login (admin.sign_in_failed).
  @UseInterceptors(AdminSignInAuditInterceptor)
  restore(@Body() dto: LoginDto): Promise<TokenPairResponse> {
    return this.deletion.restoreOwn(dto);
  }
}
