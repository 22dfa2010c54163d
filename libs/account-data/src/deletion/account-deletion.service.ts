import {
  BadRequestException,
  ConflictException,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
  UnauthorizedException,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { DataSource, type EntityManager } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { onPrimary, transactional } from '@echo/database';
import { recordAudit, type AuditContext } from '@echo/audit-log';
import { FieldErrorsException } from '@echo/http';
import {
  PasswordHasher,
  PendingDeletionException,
  TokenService,
  User,
  UsersRepository,
  UsersService,
  type LoginDto,
  type AdminUserResponse,
  type TokenPairResponse,
} from '@echo/users';
import { dbNow, dbNowSql } from '../db-clock.js';
import { PurgeQueue } from './purge-queue.js';
import type { DeletionStatusResponse } from './deletion.dto.js';

const BAD_CREDENTIALS = 'No active account found with the given credentials';

/**
 * Scheduling, restoring and (through the purge queue) carrying out account deletions.
 *
 * A scheduled account is deactivated in the same transaction (sessions end: token version raised,
 * refresh tokens revoked; open event streams close at their next heartbeat) and purged once
 * `delete_after` has passed. Until then it can be restored: by the user, signing in again through
 * POST /api/users/me/restore, when they asked for the deletion themselves; by an admin in any case.
 */
@Injectable()
export class AccountDeletion {
  private readonly logger = new Logger('AccountDeletion');

  constructor(
    private readonly dataSource: DataSource,
    private readonly purges: PurgeQueue,
    private readonly moduleRef: ModuleRef,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  // UsersModule is not global (and must not be imported twice): its services are looked up on use.
  private get users(): UsersService {
    return this.moduleRef.get(UsersService, { strict: false });
  }
  private get usersRepo(): UsersRepository {
    return this.moduleRef.get(UsersRepository, { strict: false });
  }
  private get hasher(): PasswordHasher {
    return this.moduleRef.get(PasswordHasher, { strict: false });
  }
  private get tokens(): TokenService {
    return this.moduleRef.get(TokenService, { strict: false });
  }

  /** DELETE /api/users/me: the password again, then scheduled (or purged now with a zero grace period). */
  async requestOwn(userId: number, currentPassword: string): Promise<DeletionStatusResponse> {
    const user = await onPrimary(this.dataSource, () => this.usersRepo.findWithPassword({ id: userId }));
    if (!user) throw new NotFoundException();
    if (!(await this.hasher.verify(user.passwordHash, currentPassword)))
      throw new FieldErrorsException({ current_password: ['Your current password was entered incorrectly.'] });
    return this.schedule(userId, { by: userId, now: false });
  }

  /** DELETE /api/admin/users/:id (`now`: no grace period). */
  adminRequest(id: number, audit: AuditContext & { actorId: number }, now: boolean): Promise<DeletionStatusResponse> {
    return this.schedule(id, { by: audit.actorId, now, audit });
  }

  private async schedule(
    id: number,
    request: { by: number; now: boolean; audit?: AuditContext },
  ): Promise<DeletionStatusResponse> {
    const grace = request.now ? 0 : this.config.accounts.deleteGraceMs;
    const { at, deleteAfter } = await transactional(this.dataSource, async (em) => {
      // Every admin row, then the target, locked in that order (as role changes do): two admins
      // deleting each other serialise, and the second finds the last-admin rule in its way.
      const { admins, target } = await this.usersRepo.lockAdminsThen(em, id);
      // The database's clock, which the restore and the purge compare delete_after with.
      const at = await dbNow(em);
      if (!target) throw new NotFoundException();
      if (target.role === 'admin' && target.isActive && admins.filter((a) => a.isActive).length <= 1)
        throw new BadRequestException('Cannot delete the last active admin.');
      // Already scheduled: the earlier time stands (an admin's `now` brings it forward).
      const asked = new Date(at.getTime() + grace);
      const pending = target.deleteAfter ? new Date(target.deleteAfter) : undefined;
      const when = pending && pending < asked ? pending : asked;
      await em.getRepository(User).update(
        { id },
        {
          isActive: false,
          deletionRequestedAt: target.deletionRequestedAt ?? at,
          deleteAfter: when,
          // An admin's request over the user's own takes the restore out of the user's hands.
          deletionRequestedBy: request.by,
        },
      );
      await this.usersRepo.raiseTokenVersion(em, id);
      await this.tokens.revokeAllForUser(id, em);
      if (request.audit)
        await recordAudit(em, request.audit, {
          action: 'user.delete',
          targetType: 'user',
          targetId: id,
          targetLabel: target.username,
          changes: {
            is_active: [target.isActive, false],
            delete_after: [target.deleteAfter ? new Date(target.deleteAfter).toISOString() : null, when.toISOString()],
            ...(request.now ? { now: [null, true] } : {}),
          },
        });
      return { at, deleteAfter: when };
    });
    await this.users.invalidate(id);
    // Committed: if the queue is away now, the due-purge check enqueues it later.
    await this.purges
      .schedule(id, deleteAfter)
      .catch((err: Error) => this.logger.warn(`purge of user ${id} not queued yet: ${err.message}`));
    const by = request.by === id ? 'the user' : `admin ${request.by}`;
    this.logger.log(`user ${id}: deletion requested by ${by}, purge after ${deleteAfter.toISOString()}`);
    return deleteAfter <= at ? { status: 'purging' } : { status: 'scheduled', delete_after: deleteAfter.toISOString() };
  }

  /**
   * POST /api/users/me/restore: the credentials of login. A wrong password is login's 401; an
   * account the user did not ask to delete (an admin did), or whose purge has begun, is the
   * login's 403 again; otherwise the deletion is cancelled and the user signed in.
   */
  async restoreOwn(dto: LoginDto): Promise<TokenPairResponse> {
    const user = await this.users.findForLogin({ username: dto.username, email: dto.email });
    const ok = await this.hasher.verify(user?.passwordHash, dto.password);
    if (!user || !ok) throw new UnauthorizedException(BAD_CREDENTIALS);
    if (!user.deleteAfter) throw new BadRequestException('This account is not scheduled for deletion.');
    if (user.deletionRequestedBy !== user.id || !(await this.cancel(user.id, user.id)))
      throw new PendingDeletionException(await this.current(user));
    await this.users.recordLogin(user.id);
    return this.tokens.issuePair(user);
  }

  /** POST /api/admin/users/:id/restore: cancels any pending deletion whose purge has not begun; reactivates. */
  async adminRestore(id: number, audit: AuditContext): Promise<AdminUserResponse> {
    const user = await onPrimary(this.dataSource, () => this.usersRepo.findById(id));
    if (!user) throw new NotFoundException();
    if (!user.deleteAfter) throw new BadRequestException('This account is not scheduled for deletion.');
    const entry = {
      action: 'user.restore',
      targetType: 'user',
      targetId: id,
      targetLabel: user.username,
      changes: {
        is_active: [user.isActive, true] as [unknown, unknown],
        delete_after: [new Date(user.deleteAfter).toISOString(), null] as [unknown, unknown],
      },
    };
    if (!(await this.cancel(id, undefined, (em) => recordAudit(em, audit, entry))))
      throw new ConflictException('The purge of this account has begun; it can no longer be cancelled.');
    return this.users.adminGet(id);
  }

  /**
   * One conditional update: only while `delete_after` is still ahead by the database's clock and
   * no purge has claimed the account (the purge's own conditional update, on the same clock, sets
   * purge_started_at before it deletes anything), so a restore and a purge never both go ahead,
   * whatever the processes' clocks say. `requestedBy`: only the user's own.
   */
  private async cancel(
    id: number,
    requestedBy?: number,
    audit?: (em: EntityManager) => Promise<void>,
  ): Promise<boolean> {
    // `audit`: the admin's entry, written only when the update went ahead, in its transaction.
    const done = await transactional(this.dataSource, async (em) => {
      const qb = em
        .createQueryBuilder()
        .update(User)
        .set({ isActive: true, deletionRequestedAt: null, deleteAfter: null, deletionRequestedBy: null })
        .where(`id = :id AND delete_after > ${dbNowSql(this.dataSource)} AND purge_started_at IS NULL`, { id });
      if (requestedBy !== undefined) qb.andWhere('deletion_requested_by = :by', { by: requestedBy });
      const updated = Boolean((await qb.execute()).affected);
      if (updated && audit) await audit(em);
      return updated;
    });
    await this.users.invalidate(id);
    if (!done) return false;
    await this.purges
      .cancel(id)
      .catch((err: Error) => this.logger.warn(`queued purge of user ${id} not dropped: ${err.message}`));
    this.logger.log(`user ${id}: deletion cancelled`);
    return true;
  }

  /** The row as it is now (a concurrent change may have moved it on). */
  private async current(user: User): Promise<User> {
    return (await onPrimary(this.dataSource, () => this.usersRepo.findById(user.id))) ?? user;
  }
}
