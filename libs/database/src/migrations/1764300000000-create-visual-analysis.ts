import { Table, TableForeignKey, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

export class CreateVisualAnalysis1764300000000 implements MigrationInterface {
  name = 'CreateVisualAnalysis1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'visual_analysis_results',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'upload_id', type: 'varchar', length: '36' },
          { name: 'user_id', type: 'integer' },
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'progress', type: 'integer', default: 0 },
          { name: 'attempts', type: 'integer', default: 0 },
          { name: 'error', type: 'varchar', length: '500', isNullable: true },
          { name: 'result', type: 'text', isNullable: true },
          { name: 'phash', type: 'varchar', length: '16', isNullable: true },
          { name: 'analyzer_version', type: 'varchar', length: '16' },
          { name: 'created_at', type: 'datetime', precision: 3 },
          { name: 'started_at', type: 'datetime', precision: 3, isNullable: true },
          { name: 'completed_at', type: 'datetime', precision: 3, isNullable: true },
        ],
        indices: [
          // Owner listing, and filtered by status.
          new TableIndex({ name: 'ix_var_user_created', columnNames: ['user_id', 'created_at', 'id'] }),
          new TableIndex({
            name: 'ix_var_user_status_created',
            columnNames: ['user_id', 'status', 'created_at', 'id'],
          }),
          // Latest analysis of an upload (upload items, filter upload_id).
          new TableIndex({ name: 'ix_var_upload_created', columnNames: ['upload_id', 'created_at'] }),
          // The reconciler's stuck rows.
          new TableIndex({ name: 'ix_var_status_created', columnNames: ['status', 'created_at'] }),
          // Near-duplicate candidates of one owner.
          new TableIndex({ name: 'ix_var_user_phash', columnNames: ['user_id', 'phash'] }),
        ],
        foreignKeys: [
          new TableForeignKey({
            name: 'fk_var_upload',
            columnNames: ['upload_id'],
            referencedTableName: 'uploads',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
          }),
          new TableForeignKey({
            name: 'fk_var_user',
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
    await q.dropTable('visual_analysis_results');
  }
}
