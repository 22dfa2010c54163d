import { Injectable } from '@nestjs/common';
import { DataSource, In, IsNull, Not } from 'typeorm';
import { onPrimary, transactional } from '@echo/database';
import { RefreshToken, User } from '@echo/users';
import { Upload } from '@echo/uploads';
import { VisualAnalysis } from '@echo/visual-analysis';
import { dbNowSql } from '../db-clock.js';

/**
 * The purge's queries. Every read is on the primary: a replica a step behind must never make a
 * row look gone (its files would then be kept) or present (a purge would start twice). Deletes
 * are short single-batch statements, never one transaction over a whole account.
 */
@Injectable()
export class PurgeRepository {
  constructor(private readonly dataSource: DataSource) {}

  findUser(id: number): Promise<User | null> {
    return onPrimary(this.dataSource, () => this.dataSource.getRepository(User).findOne({ where: { id } }));
  }

  /**
   * Claims a due account for its purge: one conditional update on the database's clock (the one a
   * restore checks against, see AccountDeletion.cancel), kept by a purge that resumes. The user as
   * it is afterwards: `purgeStartedAt` set means claimed; null when the row is gone.
   */
  async claim(id: number): Promise<User | null> {
    const now = dbNowSql(this.dataSource);
    await this.dataSource
      .createQueryBuilder()
      .update(User)
      .set({ purgeStartedAt: () => `COALESCE(purge_started_at, ${now})` })
      .where(`id = :id AND delete_after <= ${now}`, { id })
      .execute();
    return this.findUser(id);
  }

  /** Some of the user's uploads (the batch deleted next). */
  uploadBatch(userId: number, limit: number): Promise<Pick<Upload, 'id' | 'storageKey'>[]> {
    return onPrimary(this.dataSource, () =>
      this.dataSource
        .getRepository(Upload)
        .find({ select: { id: true, storageKey: true }, where: { userId }, take: limit }),
    );
  }

  async analysisIds(uploadIds: readonly string[]): Promise<string[]> {
    if (!uploadIds.length) return [];
    const rows = await onPrimary(this.dataSource, () =>
      this.dataSource
        .getRepository(VisualAnalysis)
        .find({ select: { id: true }, where: { uploadId: In([...uploadIds]) } }),
    );
    return rows.map((r) => r.id);
  }

  /** The analyses and then the uploads of one batch, in one short transaction. */
  async deleteUploads(uploadIds: readonly string[]): Promise<void> {
    if (!uploadIds.length) return;
    await transactional(this.dataSource, async (em) => {
      // Explicit rather than left to ON DELETE CASCADE: SQLite enforces foreign keys only when told to.
      await em.getRepository(VisualAnalysis).delete({ uploadId: In([...uploadIds]) });
      await em.getRepository(Upload).delete({ id: In([...uploadIds]) });
    });
  }

  /** The user's export ids (their jobs are stopped before the files go); none before exports exist. */
  async exportIds(userId: number): Promise<string[]> {
    try {
      const rows: { id: string }[] = await onPrimary(this.dataSource, () =>
        this.dataSource.query('SELECT id FROM exports WHERE user_id = ?', [userId]),
      );
      return rows.map((r) => String(r.id));
    } catch {
      return []; // a database migrated before the exports table
    }
  }

  async deleteRefreshTokens(userId: number): Promise<number> {
    const result = await this.dataSource.getRepository(RefreshToken).delete({ userId });
    return result.affected ?? 0;
  }

  /**
   * The user's export rows: a running export notices at its next progress write that its row is
   * gone, removes what it wrote and ends (ExportRunner), so the purge need not wait out a build.
   */
  async deleteExports(userId: number): Promise<number> {
    try {
      const result = await this.dataSource
        .createQueryBuilder()
        .delete()
        .from('exports')
        .where('user_id = :userId', { userId })
        .execute();
      return result.affected ?? 0;
    } catch {
      return 0; // a database migrated before the exports table
    }
  }

  /** The user row, last (anything left that names it goes with it: ON DELETE CASCADE). */
  async deleteUser(userId: number): Promise<boolean> {
    const result = await this.dataSource
      .getRepository(User)
      .delete({ id: userId, deleteAfter: Not(IsNull()), purgeStartedAt: Not(IsNull()) });
    return (result.affected ?? 0) > 0;
  }

  /** Users whose purge is due by the database's clock (the backstop check), oldest first. */
  async dueUserIds(limit: number): Promise<number[]> {
    const rows = await onPrimary(this.dataSource, () =>
      this.dataSource
        .getRepository(User)
        .createQueryBuilder('u')
        .select('u.id', 'id')
        .where(`u.delete_after <= ${dbNowSql(this.dataSource)}`)
        .orderBy('u.delete_after', 'ASC')
        .limit(limit)
        .getRawMany<{ id: number }>(),
    );
    return rows.map((r) => Number(r.id));
  }
}
