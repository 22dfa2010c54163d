import type { Readable } from 'node:stream';
import type { DataSource } from 'typeorm';
import { In } from 'typeorm';
import { StorageNotFoundError, type StorageDriver } from '@echo/storage';
import { toUserResponse, User } from '@echo/users';
import { toUploadResponse, Upload } from '@echo/uploads';
import { VisualAnalysis } from '@echo/visual-analysis';
import type { ExportItem, ExportSource } from './export-archive.js';

/** Uploads read per query (and analyses per query: those of one page). */
export const EXPORT_PAGE_SIZE = 500;

/** The user or the export vanished mid-run (an account purge): the run stops without a trace. */
export class ExportCancelled extends Error {
  constructor() {
    super('export cancelled: the export or its user is gone');
    this.name = 'ExportCancelled';
  }
}

type Item = ExportItem & { storageKey: string };

/**
 * One user's data as the archive reads it: the profile, then the uploads in (created_at, id)
 * order a page at a time (keyset, on ix_uploads_user_created), each with its latest analysis in
 * full, and the originals from storage. An upload deleted meanwhile is simply not in a later
 * page; one whose object is gone is listed as missing.
 */
export class DatabaseExportSource implements ExportSource {
  constructor(
    private readonly dataSource: DataSource,
    private readonly storage: StorageDriver,
    private readonly userId: number,
    private readonly exportId: string,
  ) {}

  async profile(): Promise<Record<string, unknown>> {
    const user = await this.dataSource.getRepository(User).findOne({ where: { id: this.userId } });
    if (!user) throw new ExportCancelled();
    return {
      format: 'echo-export/1',
      export_id: this.exportId,
      exported_at: new Date().toISOString(),
      user: toUserResponse(user),
      contents: {
        'profile.json': 'your account',
        'uploads.json':
          'every upload: its details, its latest analysis (result in full), and `file`, its name in photos/ (null if the original could not be read)',
        'photos/': 'every original as you uploaded it, under its file name (repeats numbered: "photo (2).jpg")',
      },
    };
  }

  count(): Promise<number> {
    return this.dataSource.getRepository(Upload).count({ where: { userId: this.userId } });
  }

  async *pages(): AsyncIterable<Item[]> {
    let after: { createdAt: Date; id: string } | undefined;
    for (;;) {
      const qb = this.dataSource
        .getRepository(Upload)
        .createQueryBuilder('u')
        .where('u.user_id = :userId', { userId: this.userId })
        .orderBy('u.created_at', 'ASC')
        .addOrderBy('u.id', 'ASC')
        .limit(EXPORT_PAGE_SIZE);
      if (after) {
        // A Date parameter: TypeORM binds it as the column's text on SQLite, as a DATETIME on MySQL.
        qb.andWhere('(u.created_at > :at OR (u.created_at = :at AND u.id > :id))', {
          at: after.createdAt,
          id: after.id,
        });
      }
      const uploads = await qb.getMany();
      if (!uploads.length) return;
      const analyses = await this.latestAnalyses(uploads.map((u) => u.id));
      yield uploads.map((upload) => this.item(upload, analyses.get(upload.id) ?? null));
      if (uploads.length < EXPORT_PAGE_SIZE) return;
      const last = uploads[uploads.length - 1];
      after = { createdAt: last.createdAt, id: last.id };
    }
  }

  async open(item: ExportItem): Promise<Readable | null> {
    try {
      return await this.storage.get((item as Item).storageKey);
    } catch (err) {
      if (err instanceof StorageNotFoundError) return null;
      throw err;
    }
  }

  private async latestAnalyses(uploadIds: string[]): Promise<Map<string, VisualAnalysis>> {
    const rows = await this.dataSource.getRepository(VisualAnalysis).find({
      where: { uploadId: In(uploadIds) },
      order: { createdAt: 'DESC', id: 'DESC' },
    });
    const latest = new Map<string, VisualAnalysis>();
    for (const row of rows) if (!latest.has(row.uploadId)) latest.set(row.uploadId, row);
    return latest;
  }

  private item(upload: Upload, analysis: VisualAnalysis | null): Item {
    const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
    return {
      id: upload.id,
      originalName: upload.originalName,
      contentType: upload.contentType,
      size: Number(upload.size),
      mtime: new Date(upload.takenAt ?? upload.createdAt),
      storageKey: upload.storageKey,
      record: {
        ...toUploadResponse(upload),
        analysis: analysis && {
          id: analysis.id,
          status: analysis.status,
          progress: analysis.progress,
          attempts: analysis.attempts,
          error: analysis.error,
          analyzer_version: analysis.analyzerVersion,
          created_at: iso(analysis.createdAt),
          started_at: iso(analysis.startedAt),
          completed_at: iso(analysis.completedAt),
          result: analysis.result,
        },
      },
    };
  }
}
