import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { sqlReader } from '@echo/database';
import { UPLOAD_COLUMNS, type UploadRow } from '../upload.response.js';

/** Ids per `IN (…)` list: well under every driver's parameter limit (SQLite's is 32,766). */
const IDS_PER_STATEMENT = 500;

/**
 * Beyond this many ids, upload times are read for the whole library from an index instead of
 * looked up one by one: 13,500 primary-key lookups took 200–570 ms, the index scan of 20,000
 * entries a few milliseconds.
 */
const LOOKUPS_BEFORE_SCAN = 1000;

/** What orders near-duplicates: newest first among equals, the largest picture and file first in a group. */
export interface UploadSortKeys {
  id: string;
  createdAt: Date;
  width: number;
  height: number;
  size: number;
}

/**
 * The statements of similar-photo search, on the caller's connection (a `withReadConnection`
 * manager): the owners' hashes from ix_uploads_user_phash alone, then only the rows a page shows.
 */
@Injectable()
export class SimilarRepository {
  /**
   * Every hashed upload of these owners, as (id, phash[, user_id]): a range of
   * ix_uploads_user_phash (user_id, phash, id) per owner, read from the index alone (EXPLAIN:
   * "Using index"; no row is looked up however many uploads the owner has).
   */
  async hashes(manager: EntityManager, userIds: readonly number[]): Promise<HashRow[]> {
    if (!userIds.length) return [];
    const owners = userIds.length === 1 ? 'user_id = ?' : `user_id IN (${userIds.map(() => '?').join(', ')})`;
    return sqlReader(manager).query<HashRow>(
      `SELECT id, user_id, phash FROM uploads WHERE ${owners} AND phash IS NOT NULL`,
      [...userIds],
    );
  }

  /**
   * Upload time (ms) of these uploads of the owner: looked up by id when they are few, else the
   * owner's whole (user_id, created_at, id) index read on its own (ix_uploads_user_created, EXPLAIN:
   * "Using index"). Uploads deleted meanwhile are absent.
   */
  async createdAt(manager: EntityManager, userId: number, ids: readonly string[]): Promise<Map<string, number>> {
    const db = sqlReader(manager);
    const out = new Map<string, number>();
    if (ids.length > LOOKUPS_BEFORE_SCAN) {
      const rows = await db.query<{ id: string; created_at: unknown }>(
        'SELECT id, created_at FROM uploads WHERE user_id = ?',
        [userId],
      );
      const wanted = new Set(ids);
      for (const row of rows) if (wanted.has(row.id)) out.set(row.id, db.date(row.created_at).getTime());
      return out;
    }
    for (let at = 0; at < ids.length; at += IDS_PER_STATEMENT) {
      const batch = ids.slice(at, at + IDS_PER_STATEMENT);
      const rows = await db.query<{ id: string; created_at: unknown }>(
        `SELECT id, created_at FROM uploads WHERE user_id = ? AND id IN (${batch.map(() => '?').join(', ')})`,
        [userId, ...batch],
      );
      for (const row of rows) out.set(row.id, db.date(row.created_at).getTime());
    }
    return out;
  }

  /** The sort keys of these uploads of the owner (primary-key lookups, a few hundred per statement). */
  async sortKeys(manager: EntityManager, userId: number, ids: readonly string[]): Promise<UploadSortKeys[]> {
    const db = sqlReader(manager);
    const out: UploadSortKeys[] = [];
    for (let at = 0; at < ids.length; at += IDS_PER_STATEMENT) {
      const batch = ids.slice(at, at + IDS_PER_STATEMENT);
      const rows = await db.query<{ id: string; created_at: unknown; width: number; height: number; size: unknown }>(
        `SELECT id, created_at, width, height, size FROM uploads WHERE user_id = ? AND id IN (${batch.map(() => '?').join(', ')})`,
        [userId, ...batch],
      );
      for (const row of rows)
        out.push({
          id: row.id,
          createdAt: db.date(row.created_at),
          width: Number(row.width),
          height: Number(row.height),
          size: Number(row.size),
        });
    }
    return out;
  }

  /**
   * The upload objects' rows of one page (in no order: the caller orders them), each with its
   * latest analysis (`analysis`, the ANALYSIS_SUMMARY_READER's join) and, for admin views, its
   * owner's username. Uploads deleted since the page was worked out are simply absent.
   */
  async rows(
    manager: EntityManager,
    ids: readonly string[],
    options: { analysis?: { select: string; join: string }; usernames?: boolean } = {},
  ): Promise<UploadRow[]> {
    if (!ids.length) return [];
    const db = sqlReader(manager);
    const select = [UPLOAD_COLUMNS];
    const joins: string[] = [];
    if (options.analysis) {
      select.push(options.analysis.select);
      joins.push(options.analysis.join);
    }
    if (options.usernames) {
      select.push('owner.username AS username');
      joins.push('LEFT JOIN users owner ON owner.id = up.user_id');
    }
    const out: UploadRow[] = [];
    for (let at = 0; at < ids.length; at += IDS_PER_STATEMENT) {
      const batch = ids.slice(at, at + IDS_PER_STATEMENT);
      const rows = await db.query<UploadRow>(
        `SELECT ${select.join(', ')} FROM uploads up ${joins.join(' ')} WHERE up.id IN (${batch.map(() => '?').join(', ')})`,
        [...batch],
      );
      for (const row of rows) {
        row.created_at = db.date(row.created_at);
        if (row.taken_at !== null && row.taken_at !== undefined) row.taken_at = db.date(row.taken_at);
        out.push(row);
      }
    }
    return out;
  }
}

export interface HashRow {
  id: string;
  user_id: number;
  phash: string;
}
