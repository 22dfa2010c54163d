import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, In } from 'typeorm';
import { CacheService } from '@echo/cache';
import { onPrimary, transactional } from '@echo/database';
import { STORAGE, type StorageDriver } from '@echo/storage';
import { Upload, uploadListGroup } from '@echo/uploads';
import { analysisListGroup, ANALYZER_VERSION, VisualAnalysis } from '@echo/visual-analysis';
import { userPrefixes } from '../user-prefixes.js';
import { classifyKey, type KeyClass } from './audit-keys.js';

/** Objects younger than this are never called orphans: their row may be about to commit. */
export const AUDIT_MIN_AGE_MS = 3600_000;
const BATCH = 500;
/** The reason a row whose original is gone carries (as its newest analysis, failed). */
export const MISSING_ORIGINAL = 'The original file is missing from storage; upload the photo again.';
const MISSING_ARCHIVE = 'The archive is missing from storage. Request a new export.';

/** One problem: an object no row names, or a row whose object is gone. */
export interface AuditFinding {
  kind: 'orphan-object' | 'unknown-object' | 'missing-original' | 'missing-export';
  /** The owner the key or row names (null: a key of no known shape). */
  userId: number | null;
  key: string;
  uploadId?: string;
  exportId?: string;
}

export interface AuditReport {
  objectsScanned: number;
  /** Rows judged: uploads older than AUDIT_MIN_AGE_MS, completed exports. */
  rowsChecked: number;
  /** Objects no row names (deleted by --fix). */
  orphanObjects: number;
  /** Objects of no shape Echo writes (reported only; --fix leaves them). */
  unknownObjects: number;
  /** Rows whose object is gone (marked by --fix). */
  rowsWithoutObject: number;
  findings: AuditFinding[];
  fixed: { deleted: number; marked: number };
  ms: number;
}

export interface AuditOptions {
  /** Only this user's prefixes and rows. */
  userId?: number;
  /** Delete orphan objects; mark rows without their object (see `fix`). */
  fix?: boolean;
  /** Told of each finding as it is found (the CLI prints them). */
  onFinding?: (finding: AuditFinding) => void;
  /** Findings kept in the report (the counts are always complete). */
  keepFindings?: number;
}

/**
 * Storage against the database, both ways, on local disk or S3 (listing by prefix, in pages):
 * 1. every object (older than an hour: a write in progress is not an orphan) must be named by a
 *    row — an original by its upload, a thumbnail/preview by an upload of that owner, an export
 *    archive by its export; temp objects are the orphan sweeper's;
 * 2. every upload row (older than the same hour: intake commits the row before the file lands)
 *    must have its original — checked per user against a listing of that user's prefix (memory:
 *    one user's keys), and stat()ed again before it is called missing — and every completed,
 *    unexpired export its archive.
 * `fix` deletes orphan objects and marks broken rows: an upload whose original is gone gets a
 * failed analysis saying so (its newest, so the owner and the console see why), rather than being
 * deleted — storage read through a wrong bucket or a mount that failed must never cost the rows;
 * if the file comes back, an admin's retry analyses it again. A missing export archive fails that
 * export with a reason. Objects of unknown shape are reported, never deleted.
 */
@Injectable()
export class StorageAudit {
  private readonly logger = new Logger('StorageAudit');

  constructor(
    private readonly dataSource: DataSource,
    private readonly cache: CacheService,
    @Inject(STORAGE) private readonly storage: StorageDriver,
  ) {}

  async run(options: AuditOptions = {}): Promise<AuditReport> {
    const started = Date.now();
    const report: AuditReport = {
      objectsScanned: 0,
      rowsChecked: 0,
      orphanObjects: 0,
      unknownObjects: 0,
      rowsWithoutObject: 0,
      findings: [],
      fixed: { deleted: 0, marked: 0 },
      ms: 0,
    };
    const keep = options.keepFindings ?? 1000;
    const found = async (finding: AuditFinding) => {
      if (finding.kind === 'orphan-object') report.orphanObjects++;
      else if (finding.kind === 'unknown-object') report.unknownObjects++;
      else report.rowsWithoutObject++;
      if (report.findings.length < keep) report.findings.push(finding);
      options.onFinding?.(finding);
      if (options.fix) await this.fix(finding, report);
    };
    await this.objectsWithoutRows(options.userId, report, found);
    await this.rowsWithoutObjects(options.userId, report, found);
    report.ms = Date.now() - started;
    return report;
  }

  // --- 1. objects without a row ---

  private async objectsWithoutRows(
    userId: number | undefined,
    report: AuditReport,
    found: (f: AuditFinding) => Promise<void>,
  ): Promise<void> {
    const olderThan = new Date(Date.now() - AUDIT_MIN_AGE_MS);
    for (const prefix of userId === undefined ? [''] : userPrefixes(userId)) {
      let batch: string[] = [];
      const flush = async () => {
        for (const finding of await this.judge(batch)) await found(finding);
        batch = [];
      };
      for await (const key of this.storage.listOlderThan(prefix, olderThan)) {
        report.objectsScanned++;
        batch.push(key);
        if (batch.length >= BATCH) await flush();
      }
      await flush();
    }
  }

  /** The findings among these keys: one lookup per table per batch, on the primary. */
  private async judge(keys: string[]): Promise<AuditFinding[]> {
    const classes = keys.map((key) => ({ key, c: classifyKey(key) }));
    const uploadIds = [
      ...new Set(classes.flatMap(({ c }) => (c.kind === 'original' || c.kind === 'derived' ? [c.uploadId] : []))),
    ];
    const exportKeys = classes.filter(({ c }) => c.kind === 'export').map(({ key }) => key);
    const [uploads, exportsKept] = await onPrimary(this.dataSource, () =>
      Promise.all([
        uploadIds.length
          ? this.dataSource.getRepository(Upload).find({
              select: { id: true, userId: true, storageKey: true },
              where: { id: In(uploadIds) },
            })
          : [],
        this.exportRowsNaming(exportKeys),
      ]),
    );
    const byId = new Map(uploads.map((u) => [u.id, u]));
    const findings: AuditFinding[] = [];
    for (const { key, c } of classes) {
      const orphan = (extra: Partial<AuditFinding> = {}) =>
        findings.push({ kind: 'orphan-object', userId: ownerOf(c), key, ...extra });
      switch (c.kind) {
        case 'original': {
          const row = byId.get(c.uploadId);
          if (!row || row.storageKey !== key) orphan({ uploadId: c.uploadId });
          break;
        }
        case 'derived':
          if (byId.get(c.uploadId)?.userId !== c.userId) orphan({ uploadId: c.uploadId });
          break;
        case 'export':
          if (!exportsKept.has(key)) orphan();
          break;
        case 'unknown':
          findings.push({ kind: 'unknown-object', userId: null, key });
          break;
        case 'temp':
          break;
      }
    }
    return findings;
  }

  private async exportRowsNaming(keys: string[]): Promise<Set<string>> {
    if (!keys.length) return new Set();
    const rows = await this.dataSource
      .createQueryBuilder()
      .select('e.storage_key', 'storage_key')
      .from('exports', 'e')
      .where('e.storage_key IN (:...keys)', { keys })
      .getRawMany<{ storage_key: string }>();
    return new Set(rows.map((r) => r.storage_key));
  }

  // --- 2. rows without their object ---

  private async rowsWithoutObjects(
    userId: number | undefined,
    report: AuditReport,
    found: (f: AuditFinding) => Promise<void>,
  ): Promise<void> {
    for await (const owner of userId === undefined ? this.uploadOwners() : [userId]) {
      // Only rows older than the listing by the objects' margin are judged: intake commits the row
      // before it moves the file in, so a younger row's file may not be there yet (or may have
      // arrived after the listing). Taken before the listing starts.
      const bornBefore = new Date(Date.now() - AUDIT_MIN_AGE_MS);
      const originals = await this.listAll(`${owner}/`);
      let after = '';
      for (;;) {
        const rows = await onPrimary(this.dataSource, () =>
          this.dataSource
            .getRepository(Upload)
            .createQueryBuilder('up')
            .select(['up.id', 'up.userId', 'up.storageKey'])
            .where('up.userId = :owner AND up.id > :after AND up.createdAt < :bornBefore', {
              owner,
              after,
              bornBefore,
            })
            .orderBy('up.id', 'ASC')
            .limit(BATCH)
            .getMany(),
        );
        if (!rows.length) break;
        after = rows[rows.length - 1].id;
        report.rowsChecked += rows.length;
        for (const row of rows) {
          // A key outside the owner's prefix (never written so) is asked for by itself; one missing
          // from the listing is asked for again (the listing is a snapshot) before it is reported.
          const present = row.storageKey.startsWith(`${owner}/`) && originals.has(row.storageKey);
          if (present || (await this.storage.stat(row.storageKey)) !== null) continue;
          await found({ kind: 'missing-original', userId: owner, key: row.storageKey, uploadId: row.id });
        }
      }
    }
    // Completed exports are few (one kept per user, for EXPORT_TTL_HOURS): one stat each.
    for (const row of await this.completedExports(userId)) {
      report.rowsChecked++;
      if (!(await this.storage.stat(row.storage_key)))
        await found({ kind: 'missing-export', userId: Number(row.user_id), key: row.storage_key, exportId: row.id });
    }
  }

  /** Users that own uploads, in id order, a page at a time (the owner index: no table scan). */
  private async *uploadOwners(): AsyncGenerator<number> {
    let after = 0;
    for (;;) {
      const rows = await onPrimary(this.dataSource, () =>
        this.dataSource
          .getRepository(Upload)
          .createQueryBuilder('up')
          .select('DISTINCT up.userId', 'id')
          .where('up.userId > :after', { after })
          .orderBy('up.userId', 'ASC')
          .limit(BATCH)
          .getRawMany<{ id: number }>(),
      );
      if (!rows.length) return;
      for (const { id } of rows) yield Number(id);
      after = Number(rows[rows.length - 1].id);
    }
  }

  private async completedExports(userId?: number): Promise<{ id: string; user_id: number; storage_key: string }[]> {
    try {
      const qb = this.dataSource
        .createQueryBuilder()
        .select(['e.id AS id', 'e.user_id AS user_id', 'e.storage_key AS storage_key'])
        .from('exports', 'e')
        .where("e.status = 'completed' AND e.storage_key IS NOT NULL")
        .andWhere('(e.expires_at IS NULL OR e.expires_at > :now)', { now: new Date() });
      if (userId !== undefined) qb.andWhere('e.user_id = :userId', { userId });
      return await qb.getRawMany();
    } catch {
      return []; // no exports table yet
    }
  }

  /** Every key under a prefix (one user's), whatever its age. */
  private async listAll(prefix: string): Promise<Set<string>> {
    const keys = new Set<string>();
    for await (const key of this.storage.listOlderThan(prefix, new Date(8.64e15))) keys.add(key);
    return keys;
  }

  // --- --fix ---

  private async fix(finding: AuditFinding, report: AuditReport): Promise<void> {
    switch (finding.kind) {
      case 'orphan-object':
        await this.storage.delete(finding.key);
        report.fixed.deleted++;
        return;
      case 'missing-original':
        if (await this.markMissingOriginal(finding.uploadId!, finding.userId!)) report.fixed.marked++;
        return;
      case 'missing-export':
        await this.dataSource
          .createQueryBuilder()
          .update('exports')
          .set({ status: 'failed', error: MISSING_ARCHIVE, storage_key: null })
          .where('id = :id', { id: finding.exportId })
          .execute();
        report.fixed.marked++;
        return;
      case 'unknown-object':
        return;
    }
  }

  /** A failed analysis saying why, as the upload's newest (unless it already is); the owner's lists move on. */
  private async markMissingOriginal(uploadId: string, userId: number): Promise<boolean> {
    const marked = await transactional(this.dataSource, async (em) => {
      const repo = em.getRepository(VisualAnalysis);
      const latest = await repo.findOne({ where: { uploadId }, order: { createdAt: 'DESC' } });
      if (latest?.status === 'failed' && latest.error === MISSING_ORIGINAL) return false;
      const now = new Date();
      await repo.insert({
        id: randomUUID(),
        uploadId,
        userId,
        status: 'failed',
        progress: 0,
        attempts: 0,
        error: MISSING_ORIGINAL,
        result: null,
        phash: null,
        analyzerVersion: ANALYZER_VERSION,
        createdAt: now,
        startedAt: null,
        completedAt: now,
      });
      return true;
    });
    if (marked) {
      // The owner's cached lists show each upload's newest analysis.
      await this.cache.bump(uploadListGroup(userId));
      await this.cache.bump(analysisListGroup(userId));
      this.logger.warn(`upload ${uploadId} of user ${userId}: original missing, marked failed`);
    }
    return marked;
  }
}

function ownerOf(c: KeyClass): number | null {
  return 'userId' in c ? c.userId : null;
}
