import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { In, LessThan, MoreThan, Not, type DataSource, type EntityManager } from 'typeorm';
import { isMysql, onPrimary, transactional } from '@echo/database';
import { User } from '@echo/users';
import { DataExport, PENDING_EXPORT } from './export.entity.js';

/** How many of a user's exports the list shows (they expire, so there are rarely more). */
export const EXPORTS_LISTED = 20;

/**
 * Every query on `exports`. Reads run on the primary: a row changes every few hundred ms while
 * it runs, and a replica's lag would show a client an older state than the event it just got.
 */
@Injectable()
export class ExportsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  private get repo() {
    return this.dataSource.getRepository(DataExport);
  }

  /**
   * The user's queued/running export, else their export completed less than `cooldownMs` ago
   * (still downloadable: unexpired, requested in the current sessions), else a new queued one: one
   * transaction that first locks the user's row (MySQL: FOR UPDATE; SQLite runs one transaction at
   * a time anyway), so two concurrent requests serialise there and the second finds the first's
   * row. The lookups are locking reads too: they see the latest committed rows, whatever snapshot
   * the transaction has. Undefined when the user row is gone.
   */
  async pendingOrNew(userId: number, cooldownMs = 0): Promise<{ row: DataExport; created: boolean } | undefined> {
    return transactional(this.dataSource, async (manager) => {
      const lock = isMysql(manager.dataSource) ? { lock: { mode: 'pessimistic_write' as const } } : {};
      const user = await manager
        .getRepository(User)
        .findOne({ select: { id: true, tokenVersion: true }, where: { id: userId }, ...lock });
      if (!user) return undefined;
      const pending = await manager.getRepository(DataExport).findOne({
        where: { userId, status: In(PENDING_EXPORT) },
        order: { createdAt: 'DESC' },
        ...lock,
      });
      if (pending) return { row: pending, created: false };
      if (cooldownMs > 0) {
        const now = Date.now();
        const recent = await manager.getRepository(DataExport).findOne({
          where: { userId, status: 'completed', completedAt: MoreThan(new Date(now - cooldownMs)) },
          order: { completedAt: 'DESC' },
          ...lock,
        });
        // One whose link the owner could no longer use (sessions ended since) is no answer.
        const usable =
          recent?.expiresAt &&
          new Date(recent.expiresAt).getTime() > now &&
          (recent.tokenVersion === null || recent.tokenVersion === (user.tokenVersion ?? 0));
        if (usable) return { row: recent, created: false };
      }
      const row = manager.getRepository(DataExport).create({
        id: randomUUID(),
        userId,
        status: 'queued',
        progress: 0,
        storageKey: null,
        size: null,
        error: null,
        createdAt: new Date(),
        startedAt: null,
        completedAt: null,
        expiresAt: null,
        tokenVersion: user.tokenVersion ?? 0,
      });
      await manager.getRepository(DataExport).insert(row);
      return { row, created: true };
    });
  }

  findOfUser(userId: number, id: string): Promise<DataExport | null> {
    return onPrimary(this.dataSource, () => this.repo.findOne({ where: { id, userId } }));
  }

  findById(id: string): Promise<DataExport | null> {
    return onPrimary(this.dataSource, () => this.repo.findOne({ where: { id } }));
  }

  /** What a download checks of the owner: still active, not leaving, the same sessions. */
  ownerState(userId: number): Promise<Pick<User, 'isActive' | 'deleteAfter' | 'tokenVersion'> | null> {
    return onPrimary(this.dataSource, () =>
      this.dataSource.getRepository(User).findOne({
        select: { id: true, isActive: true, deleteAfter: true, tokenVersion: true },
        where: { id: userId },
      }),
    );
  }

  listOfUser(userId: number): Promise<DataExport[]> {
    return onPrimary(this.dataSource, () =>
      this.repo.find({ where: { userId }, order: { createdAt: 'DESC' }, take: EXPORTS_LISTED }),
    );
  }

  /**
   * Takes the export for a run: queued (or running, when a retry or a stalled job runs it again)
   * becomes running from 0 %. Null when it is gone (its user purged) or already finished.
   */
  async claim(id: string): Promise<DataExport | null> {
    const now = new Date();
    const { affected } = await this.repo.update(
      { id, status: In(PENDING_EXPORT) },
      { status: 'running', progress: 0, startedAt: now, error: null },
    );
    return affected ? this.findById(id) : null;
  }

  /** False when the export is gone or no longer running: the run stops. */
  async progress(id: string, progress: number): Promise<boolean> {
    const { affected } = await this.repo.update({ id, status: 'running' }, { progress });
    return Boolean(affected);
  }

  /** Null when the export is gone or no longer running (its archive must then be removed). */
  async complete(id: string, storageKey: string, size: number, ttlMs: number): Promise<DataExport | null> {
    const now = new Date();
    const { affected } = await this.repo.update(
      { id, status: 'running' },
      {
        status: 'completed',
        progress: 100,
        storageKey,
        size,
        completedAt: now,
        expiresAt: new Date(now.getTime() + ttlMs),
      },
    );
    return affected ? this.findById(id) : null;
  }

  /** A failed export keeps its reason until it expires like a finished one. */
  async fail(id: string, reason: string, ttlMs: number): Promise<DataExport | null> {
    const now = new Date();
    const { affected } = await this.repo.update(
      { id, status: In(PENDING_EXPORT) },
      { status: 'failed', error: reason.slice(0, 500), completedAt: now, expiresAt: new Date(now.getTime() + ttlMs) },
    );
    return affected ? this.findById(id) : null;
  }

  /** Back to queued after a failed attempt that will be retried (the row shows it waits). */
  async requeue(id: string): Promise<void> {
    await this.repo.update({ id, status: 'running' }, { status: 'queued' });
  }

  /** The user's other completed exports: superseded by a newer archive. */
  completedBefore(userId: number, id: string): Promise<DataExport[]> {
    return this.repo.find({ where: { userId, status: 'completed', id: Not(id) } });
  }

  /** Finished exports past their expiry, oldest first. */
  expired(now: Date, limit: number): Promise<DataExport[]> {
    return this.repo.find({ where: { expiresAt: LessThan(now) }, order: { expiresAt: 'ASC' }, take: limit });
  }

  /** Queued or running exports created before `before` (candidates for a lost job). */
  pendingCreatedBefore(before: Date, limit: number): Promise<DataExport[]> {
    return this.repo.find({
      where: { status: In(PENDING_EXPORT), createdAt: LessThan(before) },
      order: { createdAt: 'ASC' },
      take: limit,
    });
  }

  /** Every queued or running export (embedded start-up: their runs died with the last process). */
  allPending(limit: number): Promise<DataExport[]> {
    return this.repo.find({ where: { status: In(PENDING_EXPORT) }, order: { createdAt: 'ASC' }, take: limit });
  }

  /** Removes the row if it is still the one read (not re-requested meanwhile: ids are unique). */
  async delete(id: string, manager: EntityManager = this.dataSource.manager): Promise<void> {
    await manager.getRepository(DataExport).delete({ id });
  }
}
