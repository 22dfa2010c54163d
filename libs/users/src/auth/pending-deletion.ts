import { ForbiddenException } from '@nestjs/common';
import type { User } from '../user.entity.js';

export const PENDING_DELETION_CODE = 'account_pending_deletion';

/**
 * Sign-in refused because the account is scheduled for deletion. Only shown to someone who gave
 * the right password (anyone else gets the usual 401), so it reveals nothing to a guesser; it
 * says when the data goes and, for the user's own request, how to cancel it.
 */
export class PendingDeletionException extends ForbiddenException {
  readonly extraBody: { code: string; delete_after: string; restorable: boolean };

  constructor(
    user: Pick<User, 'id' | 'deleteAfter' | 'deletionRequestedBy'> & { purgeStartedAt?: Date | null },
    now = Date.now(),
  ) {
    const at = new Date(user.deleteAfter!);
    // Begun: the purge claimed it (whatever this process's clock says), or its time has come.
    const begun = Boolean(user.purgeStartedAt) || at.getTime() <= now;
    const restorable = user.deletionRequestedBy === user.id && !begun;
    super(
      begun
        ? 'This account is being deleted.'
        : restorable
          ? `This account is scheduled for deletion on ${at.toISOString()}; signing in is disabled until then. ` +
            'To cancel the deletion, POST /api/users/me/restore with your username (or email) and password.'
          : `This account was deactivated by an administrator and is scheduled for deletion on ${at.toISOString()}.`,
    );
    this.extraBody = { code: PENDING_DELETION_CODE, delete_after: at.toISOString(), restorable };
  }
}
