import { BadRequestException, Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, QueryFailedError, type EntityManager, type Repository } from 'typeorm';
import { CacheService } from '@echo/cache';
import { onPrimary, replicaOrPrimary, withReadConnection } from '@echo/database';
import { FieldErrorsException } from '@echo/http';
import { paginate, type PageRequest, type PageResult } from '@echo/pagination';
import { User, type Role } from './user.entity.js';
import { toUserResponse, type UserResponse } from './user.response.js';
import { PasswordHasher } from './auth/password-hasher.js';
import type { AdminUpdateUserDto, AdminUsersQueryDto } from './dto/admin-users.dto.js';
import type { UpdateMeDto } from './dto/update-me.dto.js';

const userKey = (id: number) => `user:${id}`;

@Injectable()
export class UsersService {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly dataSource: DataSource,
    private readonly cache: CacheService,
    private readonly hasher: PasswordHasher,
  ) {}

  /**
   * The user record through the cache (cache-aside); every write below invalidates it. A miss is
   * read on the primary: it usually follows that write, and a stale replica row would be cached.
   */
  async findCached(id: number): Promise<UserResponse | undefined> {
    return this.cache.getOrSet(userKey(id), () =>
      onPrimary(this.dataSource, async () => {
        const user = await this.users.findOne({ where: { id } });
        return user ? toUserResponse(user) : undefined;
      }),
    );
  }

  async invalidate(id: number): Promise<void> {
    await this.cache.del(userKey(id));
  }

  async create(input: { username: string; email: string; password: string; displayName?: string; role?: Role }): Promise<User> {
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
      return await this.users.save(user);
    } catch (err) {
      throw this.uniqueViolation(err) ?? err;
    }
  }

  /** For login (on the primary: the account may have just been registered or changed). */
  findForLogin(by: { username?: string; email?: string }): Promise<User | null> {
    const qb = this.users.createQueryBuilder('u').addSelect('u.passwordHash');
    if (by.username !== undefined) qb.where('u.username = :username', { username: by.username });
    else qb.where('u.email = :email', { email: (by.email ?? '').toLowerCase() });
    return onPrimary(this.dataSource, () => qb.getOne());
  }

  async recordLogin(id: number): Promise<void> {
    await this.users.update({ id }, { lastLogin: new Date() });
    await this.invalidate(id);
  }

  /** Read-modify-write: every read here is on the primary. */
  updateMe(id: number, dto: UpdateMeDto): Promise<UserResponse> {
    return onPrimary(this.dataSource, () => this.applyUpdateMe(id, dto));
  }

  private async applyUpdateMe(id: number, dto: UpdateMeDto): Promise<UserResponse> {
    const user = await this.users.createQueryBuilder('u').addSelect('u.passwordHash').where('u.id = :id', { id }).getOne();
    if (!user) throw new NotFoundException();
    if (dto.password !== undefined || (dto.email !== undefined && dto.email !== user.email)) {
      if (!(await this.hasher.verify(user.passwordHash, dto.current_password ?? ''))) {
        throw new FieldErrorsException({ current_password: ['Your current password was entered incorrectly.'] });
      }
    }
    const changes: Partial<User> = {};
    if (dto.display_name !== undefined) changes.displayName = dto.display_name;
    if (dto.email !== undefined && dto.email !== user.email) {
      await this.assertUnique({ email: dto.email }, id);
      changes.email = dto.email;
    }
    if (dto.password !== undefined) changes.passwordHash = await this.hasher.hash(dto.password);
    if (Object.keys(changes).length) {
      try {
        await this.users.update({ id }, changes);
      } catch (err) {
        throw this.uniqueViolation(err) ?? err;
      }
    }
    await this.invalidate(id);
    const fresh = await this.users.findOneOrFail({ where: { id } });
    return toUserResponse(fresh);
  }

  adminList(query: AdminUsersQueryDto, page: PageRequest): Promise<PageResult<UserResponse>> {
    return withReadConnection(this.dataSource, (manager) => this.adminListOn(manager, query, page));
  }

  private async adminListOn(manager: EntityManager, query: AdminUsersQueryDto, page: PageRequest): Promise<PageResult<UserResponse>> {
    const qb = manager.getRepository(User).createQueryBuilder('u');
    if (query.is_active !== undefined) qb.andWhere('u.isActive = :active', { active: query.is_active });
    if (query.role) qb.andWhere('u.role = :role', { role: query.role });
    if (query.search) {
      // Prefix match with LIKE's wildcards escaped: the search is text, never a pattern.
      // ('!' rather than backslash: MySQL and SQLite read a backslash in a literal differently.)
      const prefix = `${query.search.replace(/[!%_]/g, (c) => `!${c}`)}%`;
      qb.andWhere("(u.username LIKE :prefix ESCAPE '!' OR u.email LIKE :prefix ESCAPE '!')", { prefix });
    }
    const ordering = query.ordering ?? '-date_joined';
    const property = ordering.endsWith('username') ? 'username' : 'dateJoined';
    const result = await paginate(qb, page, {
      timeProperty: 'dateJoined',
      order: { property, direction: ordering.startsWith('-') ? 'DESC' : 'ASC' },
    });
    return { ...result, items: result.items.map(toUserResponse) };
  }

  async adminGet(id: number): Promise<UserResponse> {
    const user = await replicaOrPrimary(this.dataSource, () => this.users.findOne({ where: { id } }));
    if (!user) throw new NotFoundException();
    return toUserResponse(user);
  }

  /** Role/activation changes. Refuses to leave Echo without an active admin. */
  async adminUpdate(id: number, dto: AdminUpdateUserDto): Promise<{ user: UserResponse; deactivated: boolean }> {
    const outcome = await this.dataSource.transaction(async (em) => {
      const repo = em.getRepository(User);
      const lockable = this.dataSource.options.type === 'mysql';
      const user = await repo.findOne({ where: { id }, ...(lockable ? { lock: { mode: 'pessimistic_write' as const } } : {}) });
      if (!user) throw new NotFoundException();
      const losesAdmin = user.role === 'admin' && user.isActive && (dto.role === 'user' || dto.is_active === false);
      if (losesAdmin) {
        const admins = await repo.find({
          where: { role: 'admin', isActive: true },
          select: { id: true },
          ...(lockable ? { lock: { mode: 'pessimistic_write' as const } } : {}),
        });
        if (admins.length <= 1) throw new BadRequestException('Cannot demote or deactivate the last active admin.');
      }
      const deactivated = user.isActive && dto.is_active === false;
      if (dto.role !== undefined) user.role = dto.role;
      if (dto.is_active !== undefined) user.isActive = dto.is_active;
      await repo.save(user);
      return { user: toUserResponse(user), deactivated };
    });
    await this.invalidate(id);
    return outcome;
  }

  /** For the CLI: create the admin, or promote (and reactivate) an existing account. Idempotent. */
  async createOrPromoteAdmin(input: { username: string; email: string; password: string }): Promise<{ user: User; created: boolean }> {
    const existing = await onPrimary(this.dataSource, () =>
      this.users.findOne({ where: [{ username: input.username }, { email: input.email.toLowerCase() }] }),
    );
    if (existing) {
      await this.users.update({ id: existing.id }, { role: 'admin', isActive: true });
      await this.invalidate(existing.id);
      return { user: { ...existing, role: 'admin', isActive: true }, created: false };
    }
    return { user: await this.create({ ...input, role: 'admin' }), created: true };
  }

  private async assertUnique(fields: { username?: string; email?: string }, exceptId?: number): Promise<void> {
    const errors: Record<string, string[]> = {};
    if (fields.username !== undefined) {
      const taken = await this.users.findOne({ where: { username: fields.username }, select: { id: true } });
      if (taken && taken.id !== exceptId) errors.username = ['A user with that username already exists.'];
    }
    if (fields.email !== undefined) {
      const taken = await this.users.findOne({ where: { email: fields.email.toLowerCase() }, select: { id: true } });
      if (taken && taken.id !== exceptId) errors.email = ['A user with that email already exists.'];
    }
    if (Object.keys(errors).length) throw new FieldErrorsException(errors);
  }

  /** A concurrent insert can still hit the unique index: report it like the pre-check does. */
  private uniqueViolation(err: unknown): FieldErrorsException | undefined {
    if (!(err instanceof QueryFailedError)) return undefined;
    const message = String((err.driverError as { message?: string })?.message ?? err.message);
    if (!/duplicate|unique/i.test(message)) return undefined;
    if (/email/i.test(message)) return new FieldErrorsException({ email: ['A user with that email already exists.'] });
    return new FieldErrorsException({ username: ['A user with that username already exists.'] });
  }
}
