import { TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Indexes behind GET /api/admin/stats: analyses finished per day by status (a range on
 * (status, completed_at)), and total bytes stored read from a narrow covering index instead of
 * the uploads' rows.
 */
export class AdminStatsIndexes1764480000000 implements MigrationInterface {
  name = 'AdminStatsIndexes1764480000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createIndex(
      'visual_analysis_results',
      new TableIndex({ name: 'ix_var_status_completed', columnNames: ['status', 'completed_at'] }),
    );
    await q.createIndex('uploads', new TableIndex({ name: 'ix_uploads_size', columnNames: ['size'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('uploads', 'ix_uploads_size');
    await q.dropIndex('visual_analysis_results', 'ix_var_status_completed');
  }
}
