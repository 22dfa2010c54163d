import { Table, TableForeignKey, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Data exports (issue 23, libs/account-data): one row per requested archive. Rows go with their
 * user (ON DELETE CASCADE); the archive objects (`exports/<userId>/`) are removed by the expiry
 * sweep and by the account purge.
 */
export class CreateExports1764710000000 implements MigrationInterface {
  name = 'CreateExports1764710000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'exports',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'user_id', type: 'integer' },
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'progress', type: 'integer', default: 0 },
          { name: 'storage_key', type: 'varchar', length: '300', isNullable: true },
          { name: 'size', type: 'bigint', isNullable: true },
          { name: 'error', type: 'varchar', length: '500', isNullable: true },
          { name: 'created_at', type: 'datetime', precision: 3 },
          { name: 'started_at', type: 'datetime', precision: 3, isNullable: true },
          { name: 'completed_at', type: 'datetime', precision: 3, isNullable: true },
          { name: 'expires_at', type: 'datetime', precision: 3, isNullable: true },
        ],
        indices: [
          // A user's exports, newest first (the pending check and the list).
          new TableIndex({ name: 'ix_exports_user_created', columnNames: ['user_id', 'created_at'] }),
          // The expiry sweep's range.
          new TableIndex({ name: 'ix_exports_expires', columnNames: ['expires_at'] }),
        ],
        foreignKeys: [
          new TableForeignKey({
            name: 'fk_exports_user',
            columnNames: ['user_id'],
            referencedTableName: 'users',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
          }),
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('exports');
  }
}
