import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The admin audit log (issue 24 §3, libs/audit-log). No foreign keys: an entry outlives its actor
 * and its target (target_label keeps their name). Each index serves one filter of
 * GET /api/admin/audit-log in its (created_at, id) keyset order.
 */
export class CreateAuditLog1764720000000 implements MigrationInterface {
  name = 'CreateAuditLog1764720000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'audit_log',
        columns: [
          { name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
          { name: 'created_at', type: 'datetime', precision: 3 },
          { name: 'actor_id', type: 'integer', isNullable: true },
          { name: 'actor_username', type: 'varchar', length: '150' },
          { name: 'action', type: 'varchar', length: '64' },
          { name: 'target_type', type: 'varchar', length: '32' },
          { name: 'target_id', type: 'varchar', length: '64' },
          { name: 'target_label', type: 'varchar', length: '255' },
          // JSON text {"field": [before, after]}; text rather than JSON for SQLite.
          { name: 'changes', type: 'text' },
          { name: 'request_id', type: 'varchar', length: '64', isNullable: true },
          { name: 'ip', type: 'varchar', length: '45', isNullable: true },
        ],
        indices: [
          new TableIndex({ name: 'ix_audit_created', columnNames: ['created_at', 'id'] }),
          new TableIndex({ name: 'ix_audit_actor', columnNames: ['actor_id', 'created_at', 'id'] }),
          new TableIndex({ name: 'ix_audit_target', columnNames: ['target_type', 'target_id', 'created_at', 'id'] }),
          new TableIndex({ name: 'ix_audit_action', columnNames: ['action', 'created_at', 'id'] }),
        ],
      }),
    );
    // bigint where the dialect has it (SQLite's INTEGER PRIMARY KEY is already 64-bit).
    if (q.connection.options.type === 'mysql')
      await q.query('ALTER TABLE audit_log MODIFY id BIGINT NOT NULL AUTO_INCREMENT');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('audit_log');
  }
}
