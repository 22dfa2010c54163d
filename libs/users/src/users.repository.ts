import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { DeepPartial, EntityManager, Repository } from 'typeorm';
import { isMysql } from '@echo/database';
import { paginate, type PageRequest, type PageResult } from '@echo/pagination';
import { User } from './user.entity.js';
import type { AdminUsersQueryDto } from './dto/admin-users.dto.js';

/**
 * Every query on users. Reads go where the caller's scope sends them (`onPrimary`,
 * `replicaOrPrimary`, a `withReadConnection` manager); writes inside a transaction take its manager.
 */
@Injectable()
export class UsersRepository {
  constructor(@InjectRepository(User) private readonly users: Repository<User>) {}

  create(fields: DeepPartial<User>): User {
    return this.users.create(fields);
  }

  save(user: User): Promise<User> {
    return this.users.save(user);
  }

  findById(id: number): Promise<User | null> {
    return this.users.findOne({ where: { id } });
  }

  exists(id: number): Promise<boolean> {
    return this.users.exists({ where: { id } });
  }

  findByUsername(username: string): Promise<User | null> {
    return this.users.findOne({ where: { username } });
  }

  findByEmail(email: string): Promise<User | null> {
    return this.users.findOne({ where: { email } });
  }

  /** The user with its password hash (not selected otherwise), by exactly one of the keys. */
  findWithPassword(by: { id: number } | { username: string } | { email: string }): Promise<User | null> {
    const qb = this.users.createQueryBuilder('u').addSelect('u.passwordHash');
    if ('id' in by) qb.where('u.id = :id', { id: by.id });
    else if ('username' in by) qb.where('u.username = :username', { username: by.username });
    else qb.where('u.email = :email', { email: by.email });
    return qb.getOne();
  }

  /** The id holding this username or email, if any (the unique indexes). */
  async idWith(field: 'username' | 'email', value: string): Promise<number | undefined> {
    return (await this.users.findOne({ where: { [field]: value }, select: { id: true } }))?.id;
  }

  async update(id: number, changes: DeepPartial<User>, manager: EntityManager = this.users.manager): Promise<void> {
    if (Object.keys(changes).length) await manager.getRepository(User).update({ id }, changes);
  }

  /** Raising it ends every access token issued so far. */
  async raiseTokenVersion(manager: EntityManager, id: number): Promise<void> {
    await manager.getRepository(User).increment({ id }, 'tokenVersion', 1);
  }

  /**
   * Inside a transaction: every admin row (one statement), then the target, locked FOR UPDATE on
   * MySQL in that order by every caller, so concurrent role changes serialise instead of deadlocking.
   */
  async lockAdminsThen(
    manager: EntityManager,
    id: number,
  ): Promise<{ admins: Pick<User, 'id' | 'isActive'>[]; target: User | null }> {
    const repo = manager.getRepository(User);
    const lock = isMysql(manager.dataSource) ? { lock: { mode: 'pessimistic_write' as const } } : {};
    const admins = await repo.find({
      where: { role: 'admin' },
      select: { id: true, isActive: true },
      order: { id: 'ASC' },
      ...lock,
    });
    const target = await repo.findOne({ where: { id }, ...lock });
    return { admins, target };
  }

  saveIn(manager: EntityManager, user: User): Promise<User> {
    return manager.getRepository(User).save(user);
  }

  /** The admin's user list, filtered and ordered, on the listing's connection. */
  adminPage(manager: EntityManager, query: AdminUsersQueryDto, page: PageRequest): Promise<PageResult<User>> {
    const qb = manager.getRepository(User).createQueryBuilder('u');
    if (query.is_active !== undefined) qb.andWhere('u.isActive = :active', { active: query.is_active });
    if (query.role) qb.andWhere('u.role = :role', { role: query.role });
    if (query.deletion_scheduled !== undefined)
      qb.andWhere(query.deletion_scheduled ? 'u.deleteAfter IS NOT NULL' : 'u.deleteAfter IS NULL');
    if (query.search) {
      // Prefix match with LIKE's wildcards escaped: the search is text, never a pattern.
      // ('!' rather than backslash: MySQL and SQLite read a backslash in a literal differently.)
      const prefix = `${query.search.replace(/[!%_]/g, (c) => `!${c}`)}%`;
      qb.andWhere("(u.username LIKE :prefix ESCAPE '!' OR u.email LIKE :prefix ESCAPE '!')", { prefix });
    }
    const ordering = query.ordering ?? '-date_joined';
    const property = ordering.endsWith('username')
      ? 'username'
      : ordering.endsWith('delete_after')
        ? 'deleteAfter'
        : 'dateJoined';
    return paginate(qb, page, {
      timeProperty: 'dateJoined',
      order: { property, direction: ordering.startsWith('-') ? 'DESC' : 'ASC' },
    });
  }
}
