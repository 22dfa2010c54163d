import { Controller, Delete, HttpCode, Param, ParseIntPipe, Post, Query } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { Audit, type AuditContext } from '@echo/audit-log';
import { AdminUserResponse, Auth } from '@echo/users';
import { AccountDeletion } from './account-deletion.service.js';
import { AdminDeleteQueryDto, DeletionStatusResponse } from './deletion.dto.js';

@ApiTags('admin')
@Auth({ admin: true })
@Controller('admin/users/:id')
export class AdminAccountDeletionController {
  constructor(private readonly deletion: AccountDeletion) {}

  @Delete()
  @HttpCode(202)
  @ApiOperation({
    summary: "Delete a user's account",
    description:
      'Deactivates it at once and purges its data after ACCOUNT_DELETE_GRACE_DAYS, or at once with now=true. ' +
      'An earlier scheduled time stands. The user cannot restore an account an admin deleted; an admin can ' +
      '(POST …/restore). GET /api/admin/users?deletion_scheduled=true lists the scheduled ones.',
  })
  @ApiAcceptedResponse({ type: DeletionStatusResponse })
  @ApiBadRequestResponse({ description: '{"detail": "Cannot delete the last active admin."}' })
  @ApiNotFoundResponse()
  remove(
    @Param('id', ParseIntPipe) id: number,
    @Query() query: AdminDeleteQueryDto,
    @Audit() audit: AuditContext,
  ): Promise<DeletionStatusResponse> {
    // An admin route: the guard has set the user, so the actor is known.
    return this.deletion.adminRequest(id, { ...audit, actorId: audit.actorId! }, query.now ?? false);
  }

  @Post('restore')
  @HttpCode(200)
  @ApiOperation({ summary: 'Cancel a scheduled deletion (the account is active again)' })
  @ApiOkResponse({ type: AdminUserResponse })
  @ApiBadRequestResponse({ description: '{"detail": "This account is not scheduled for deletion."}' })
  @ApiConflictResponse({ description: 'The purge has begun' })
  @ApiNotFoundResponse()
  restore(@Param('id', ParseIntPipe) id: number, @Audit() audit: AuditContext): Promise<AdminUserResponse> {
    return this.deletion.adminRestore(id, audit);
  }
}
