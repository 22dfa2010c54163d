import { TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * users.purge_started_at: set by the account purge, by a conditional update on the database's
 * clock, before it deletes anything; a restore's conditional update requires it null, so once a
 * purge has begun no restore can go ahead (libs/account-data/src/deletion).
 */
export class PurgeClaim1764900000000 implements MigrationInterface {
  name = 'PurgeClaim1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn(
      'users',
      new TableColumn({ name: 'purge_started_at', type: 'datetime', precision: 3, isNullable: true }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('users', 'purge_started_at');
  }
}
