import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { sqlReader, withReadConnection } from '@echo/database';
import { pageBySql, type PageRequest, type PageResult } from '@echo/pagination';
import type { AuditLogQueryDto } from './audit-log-query.dto.js';
import type { AuditEntryResponse } from './audit-entry.response.js';

interface Row {
  id: string | number;
  created_at: unknown;
  actor_id: number | null;
  actor_username: string;
  action: string;
  target_type: string;
  target_id: string;
  target_label: string;
  changes: string;
  request_id: string | null;
  ip: string | null;
}

/** Reads the log (newest first); nothing here changes it: entries are written by recordAudit only. */
@Injectable()
export class AuditLogService {
  constructor(private readonly dataSource: DataSource) {}

  list(query: AuditLogQueryDto, page: PageRequest): Promise<PageResult<AuditEntryResponse>> {
    return withReadConnection(this.dataSource, async (manager) => {
      const db = sqlReader(manager);
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (sql: string, value: unknown) => (where.push(sql), params.push(value));
      if (query.actor_id !== undefined) add('al.actor_id = ?', query.actor_id);
      if (query.action !== undefined) add('al.action = ?', query.action);
      if (query.target_type !== undefined) add('al.target_type = ?', query.target_type);
      if (query.target_id !== undefined) add('al.target_id = ?', query.target_id);
      if (query.created_after) add('al.created_at >= ?', db.param(query.created_after));
      if (query.created_before) add('al.created_at < ?', db.param(query.created_before));
      const result = await pageBySql<Row>(
        db,
        { table: 'audit_log al', alias: 'al', where, params, select: 'al.*' },
        page,
      );
      return {
        ...result,
        items: result.items.map((r) => ({
          id: Number(r.id),
          created_at: db.date(r.created_at).toISOString(),
          actor_id: r.actor_id === null ? null : Number(r.actor_id),
          actor_username: r.actor_username,
          action: r.action,
          target_type: r.target_type,
          target_id: r.target_id,
          target_label: r.target_label,
          changes: JSON.parse(r.changes) as AuditEntryResponse['changes'],
          request_id: r.request_id,
          ip: r.ip,
        })),
      };
    });
  }
}
