import { BadRequestException, Injectable, NotFoundException } from '@nestjs/common';
import { DataSource, IsNull, type EntityManager } from 'typeorm';
import { CacheService } from '@echo/cache';
import { isUniqueViolation, onPrimary, replicaOrPrimary, transactional, withReadConnection } from '@echo/database';
import { FieldErrorsException } from '@echo/http';
import { CLI_AUDIT, SYSTEM_AUDIT, diff, recordAudit, type AuditContext } from '@echo/audit-log';
import type { PageRequest, PageResult } from '@echo/pagination';
import { User, type Role } from './user.entity.js';
import { UsersRepository } from './users.repository.js';
import { toAdminUserResponse, toCachedUser, type AdminUserResponse, type CachedUser } from './user.response.js';
import { TokenService } from './auth/token.service.js';
import { PasswordHasher } from './auth/password-hasher.js';
import type { AdminUpdateUserDto, AdminUsersQueryDto } from './dto/admin-users.dto.js';
import type { UpdateMeDto } from './dto/update-me.dto.js';

const userKey = (id: number) => `user:${id}`;

/** create-admin refused: the message says why and that nothing changed. */
export class AdminBootstrapError extends Error {}

@Injectable()
export class UsersService {
  constructor(
    private readonly users: UsersRepository,
    private readonly dataSource: DataSource,
    private readonly cache: CacheService,
    private readonly hasher: PasswordHasher,
    private readonly tokens: TokenService,
  ) {}

  /**
   * The user record through the cache (cache-aside); every write below invalidates it. A miss is
   * read on the primary: it usually follows that write, and a stale replica row would be cached.
   */
  async findCached(id: number): Promise<CachedUser | undefined> {
    return this.cache.getOrSet(userKey(id), () =>
      onPrimary(this.dataSource, async () => {
        const user = await this.users.findById(id);
        return user ? toCachedUser(user) : undefined;
      }),
    );
  }

  async invalidate(id: number): Promise<void> {
    await this.cache.del(userKey(id));
  }

  async create(
    input: {
      username: string;
      email: string;
      password: string;
      displayName?: string;
      role?: Role;
    },
    alsoIn?: (em: EntityManager, user: User) => Promise<void>,
  ): Promise<User> {
    await onPrimary(this.dataSource, () => this.assertUnique({ username: input.username, email: input.email }));
    const user = this.users.create({
      username: input.username,
      email: input.email.toLowerCase(),
      passwordHash: await this.hasher.hash(input.password),
      displayName: input.displayName ?? '',
      role: input.role ?? 'user',
      isActive: true,
      dateJoined: new Date(),
      lastLogin: null,
    });
    try {
      if (!alsoIn) return await this.users.save(user);
      // The account and what goes with it (the CLI's audit entry) commit together.
      return await transactional(this.dataSource, async (em) => {
        const saved = await em.save(User, user);
        await alsoIn(em, saved);
        return saved;
      });
    } catch (err) {
      throw this.uniqueViolation(err) ?? err;
    }
  }

  /** For login (on the primary: the account may have just been registered or changed). */
  findForLogin(by: { username?: string; email?: string }): Promise<User | null> {
    const key = by.username !== undefined ? { username: by.username } : { email: (by.email ?? '').toLowerCase() };
    return onPrimary(this.dataSource, () => this.users.findWithPassword(key));
  }

  async recordLogin(id: number): Promise<void> {
    await this.users.update(id, { lastLogin: new Date() });
    await this.invalidate(id);
  }

  /**
   * Read-modify-write: every read here is on the primary. A password or email change ends every
   * session (token version raised, refresh tokens revoked) in the same transaction as the change.
   */
  updateMe(id: number, dto: UpdateMeDto): Promise<{ user: User; sessionsEnded: boolean }> {
    return onPrimary(this.dataSource, () => this.applyUpdateMe(id, dto));
  }

  private async applyUpdateMe(id: number, dto: UpdateMeDto): Promise<{ user: User; sessionsEnded: boolean }> {
    const user = await this.users.findWithPassword({ id });
    if (!user) throw new NotFoundException();
    const emailChanges = dto.email !== undefined && dto.email !== user.email;
    const credentialsChange = dto.password !== undefined || emailChanges;
    if (credentialsChange && !(await this.hasher.verify(user.passwordHash, dto.current_password ?? ''))) {
      throw new FieldErrorsException({ current_password: ['Your current password was entered incorrectly.'] });
    }
    const changes: Partial<User> = {};
    if (dto.display_name !== undefined) changes.displayName = dto.display_name;
    if (emailChanges) {
      await this.assertUnique({ email: dto.email }, id);
      changes.email = dto.email;
    }
    if (dto.password !== undefined) changes.passwordHash = await this.hasher.hash(dto.password);
    try {
      await transactional(this.dataSource, async (em) => {
        await this.users.update(id, changes, em);
        if (credentialsChange) await this.endSessionsIn(em, id);
      });
    } catch (err) {
      throw this.uniqueViolation(err) ?? err;
    }
    await this.invalidate(id);
    const updated = await this.users.findById(id);
    if (!updated) throw new NotFoundException();
    return { user: updated, sessionsEnded: credentialsChange };
  }

  /** "Log out everywhere": every access token issued so far stops working, every refresh token is revoked. */
  async endSessions(id: number, audit?: AuditContext): Promise<void> {
    const found = await onPrimary(this.dataSource, () => this.users.exists(id));
    if (!found) throw new NotFoundException();
    await transactional(this.dataSource, async (em) => {
      await this.endSessionsIn(em, id);
      // An admin's "sign out everywhere" (the user's own has no audit context).
      if (audit) {
        const target = await em.findOne(User, { where: { id } });
        await recordAudit(em, audit, {
          action: 'user.logout_all',
          targetType: 'user',
          targetId: id,
          targetLabel: target?.username ?? String(id),
        });
      }
    });
    await this.invalidate(id);
  }

  private async endSessionsIn(em: EntityManager, id: number): Promise<void> {
    await this.users.raiseTokenVersion(em, id);
    await this.tokens.revokeAllForUser(id, em);
  }

  adminList(query: AdminUsersQueryDto, page: PageRequest): Promise<PageResult<AdminUserResponse>> {
    return withReadConnection(this.dataSource, async (manager) => {
      const result = await this.users.adminPage(manager, query, page);
      return { ...result, items: result.items.map(toAdminUserResponse) };
    });
  }

  async adminGet(id: number): Promise<AdminUserResponse> {
    const user = await replicaOrPrimary(this.dataSource, () => this.users.findById(id));
    if (!user) throw new NotFoundException();
    return toAdminUserResponse(user);
  }

  /**
   * Role/activation changes. Refuses to leave Echo without an active admin. Locks are taken in
   * one order by every caller: all admin rows first (one statement), then the target, so two
   * admins demoting each other serialise instead of deadlocking; the second then sees one admin
   * left and gets the guard's 400. A deactivation ends the user's sessions in the same transaction.
   */
  async adminUpdate(
    id: number,
    dto: AdminUpdateUserDto,
    audit: AuditContext = SYSTEM_AUDIT,
  ): Promise<AdminUserResponse> {
    const user = await transactional(this.dataSource, async (em) => {
      const { admins, target } = await this.users.lockAdminsThen(em, id);
      if (!target) throw new NotFoundException();
      const losesAdmin = target.role === 'admin' && target.isActive && (dto.role === 'user' || dto.is_active === false);
      if (losesAdmin && admins.filter((a) => a.isActive).length <= 1) {
        throw new BadRequestException('Cannot demote or deactivate the last active admin.');
      }
      // Active again while the purge is still due would be a contradiction: cancelling it reactivates.
      if (dto.is_active === true && target.deleteAfter)
        throw new BadRequestException(
          'This account is scheduled for deletion: cancel that instead (POST /api/admin/users/:id/restore).',
        );
      const deactivated = target.isActive && dto.is_active === false;
      const changes = diff(
        { role: target.role, is_active: target.isActive },
        { role: dto.role, is_active: dto.is_active },
      );
      if (dto.role !== undefined) target.role = dto.role;
      if (dto.is_active !== undefined) target.isActive = dto.is_active;
      await this.users.saveIn(em, target);
      if (deactivated) await this.endSessionsIn(em, id);
      // Written in this transaction: a refused or failed update leaves no entry.
      await recordAudit(em, audit, {
        action: 'user.update',
        targetType: 'user',
        targetId: id,
        targetLabel: target.username,
        changes,
      });
      return target;
    });
    await this.invalidate(id);
    return toAdminUserResponse(user);
  }

  /**
   * For the CLI. Creates a new admin account; refuses if the username or email is taken. With
   * `promote`, the username and email must name one existing account not scheduled for deletion:
   * it becomes an active admin, its password is replaced by the given one and its sessions are ended.
   */
  async createAdmin(input: {
    username: string;
    email: string;
    password: string;
    promote: boolean;
  }): Promise<{ user: User; created: boolean }> {
    const email = input.email.toLowerCase();
    const [byName, byEmail] = await onPrimary(this.dataSource, () =>
      Promise.all([this.users.findByUsername(input.username), this.users.findByEmail(email)]),
    );
    if (!byName && !byEmail) {
      const user = await this.create({ ...input, role: 'admin' }, (em, created) =>
        recordAudit(em, CLI_AUDIT, {
          action: 'admin.create',
          targetType: 'user',
          targetId: created.id,
          targetLabel: created.username,
          changes: { role: [null, 'admin'] },
        }),
      );
      return { user, created: true };
    }
    const taken = [
      byName && `username "${input.username}" (id ${byName.id})`,
      byEmail && `email "${email}" (id ${byEmail.id})`,
    ]
      .filter(Boolean)
      .join(' and ');
    if (!input.promote)
      throw new AdminBootstrapError(
        `${taken} already taken; nothing changed. Pass --promote to make that account an admin.`,
      );
    if (!byName || !byEmail || byName.id !== byEmail.id) {
      throw new AdminBootstrapError(
        `--promote needs the username and the email of one existing account; ${taken} ${byName && byEmail ? 'are different accounts' : 'only'}. Nothing changed.`,
      );
    }
    // Active again with its deletion still scheduled, the account would be purged as an admin.
    const pending = `account ${byName.username} (id ${byName.id}) is scheduled for deletion`;
    const cancelFirst = `cancel the deletion first (POST /api/admin/users/${byName.id}/restore, or the admin console), then promote it. Nothing changed.`;
    if (byName.deleteAfter)
      throw new AdminBootstrapError(
        `${pending} (purged after ${new Date(byName.deleteAfter).toISOString()}): ${cancelFirst}`,
      );
    const passwordHash = await this.hasher.hash(input.password);
    await transactional(this.dataSource, async (em) => {
      // Conditional: a deletion scheduled since the read above is refused the same way.
      const { affected } = await em
        .getRepository(User)
        .update({ id: byName.id, deleteAfter: IsNull() }, { role: 'admin', isActive: true, passwordHash });
      if (!affected) throw new AdminBootstrapError(`${pending}: ${cancelFirst}`);
      await this.endSessionsIn(em, byName.id);
      // The password's replacement is told by the action, never by its value.
      await recordAudit(em, CLI_AUDIT, {
        action: 'admin.promote',
        targetType: 'user',
        targetId: byName.id,
        targetLabel: byName.username,
        changes: diff({ role: byName.role, is_active: byName.isActive }, { role: 'admin', is_active: true }),
      });
    });
    await this.invalidate(byName.id);
    return { user: { ...byName, role: 'admin', isActive: true }, created: false };
  }

  private async assertUnique(fields: { username?: string; email?: string }, exceptId?: number): Promise<void> {
    const errors: Record<string, string[]> = {};
    if (fields.username !== undefined) {
      const taken = await this.users.idWith('username', fields.username);
      if (taken !== undefined && taken !== exceptId) errors.username = ['A user with that username already exists.'];
    }
    if (fields.email !== undefined) {
      const taken = await this.users.idWith('email', fields.email.toLowerCase());
      if (taken !== undefined && taken !== exceptId) errors.email = ['A user with that email already exists.'];
    }
    if (Object.keys(errors).length) throw new FieldErrorsException(errors);
  }

  /** A concurrent insert can still hit the unique index: report it like the pre-check does. */
  private uniqueViolation(err: unknown): FieldErrorsException | undefined {
    if (!isUniqueViolation(err)) return undefined;
    const message = String(
      (err as { driverError?: { message?: string }; message: string }).driverError?.message ?? (err as Error).message,
    );
    if (/email/i.test(message)) return new FieldErrorsException({ email: ['A user with that email already exists.'] });
    return new FieldErrorsException({ username: ['A user with that username already exists.'] });
  }
}
