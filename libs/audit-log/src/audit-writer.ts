import type { EntityManager } from 'typeorm';
import { sqlReader } from '@echo/database';
import type { AuditContext } from './audit-context.js';

/** `{"field": [before, after]}`; never passwords, hashes or tokens (callers pass named fields only). */
export type AuditChanges = Record<string, [unknown, unknown]>;

export interface AuditEntryInput {
  action: string;
  targetType: string;
  targetId: string | number;
  /** What names the target after it is gone (username, upload title or file name). */
  targetLabel: string;
  changes?: AuditChanges;
}

/** Keys that must never reach the log, whatever a caller passes. */
const SECRET = /password|token|secret|hash/i;

/**
 * Appends one entry on the caller's transaction manager, so it commits or rolls back with the
 * change it describes: a refused action (400, 404) leaves no entry. Plain SQL: no entity needed by
 * the processes that write (API, CLI), only the table.
 */
export async function recordAudit(em: EntityManager, ctx: AuditContext, entry: AuditEntryInput): Promise<void> {
  const changes = Object.fromEntries(Object.entries(entry.changes ?? {}).filter(([field]) => !SECRET.test(field)));
  const db = sqlReader(em);
  await em.query(
    'INSERT INTO audit_log (created_at, actor_id, actor_username, action, target_type, target_id, target_label, changes, request_id, ip) ' +
      'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    [
      db.param(new Date()),
      ctx.actorId,
      ctx.actorUsername.slice(0, 150),
      entry.action,
      entry.targetType,
      String(entry.targetId).slice(0, 64),
      entry.targetLabel.slice(0, 255),
      JSON.stringify(changes),
      ctx.requestId?.slice(0, 64) ?? null,
      ctx.ip?.slice(0, 45) ?? null,
    ],
  );
}

/** Only changed fields, as [before, after]. */
export function diff<T extends Record<string, unknown>>(before: T, after: Partial<T>): AuditChanges {
  const out: AuditChanges = {};
  for (const [key, value] of Object.entries(after)) {
    if (value !== undefined && before[key] !== value) out[key] = [before[key], value];
  }
  return out;
}
