import { TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * A scheduled account deletion (libs/account-data/src/deletion): when it was asked for, by whom
 * (the user themselves or an admin: only the user's own request can be undone by signing in
 * again), and when the purge may run. Indexed on delete_after: the purge check reads due rows.
 */
export class AccountDeletion1764700000000 implements MigrationInterface {
  name = 'AccountDeletion1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumns('users', [
      new TableColumn({ name: 'deletion_requested_at', type: 'datetime', precision: 3, isNullable: true }),
      new TableColumn({ name: 'delete_after', type: 'datetime', precision: 3, isNullable: true }),
      new TableColumn({ name: 'deletion_requested_by', type: 'integer', isNullable: true }),
    ]);
    await q.createIndex('users', new TableIndex({ name: 'ix_users_delete_after', columnNames: ['delete_after'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('users', 'ix_users_delete_after');
    await q.dropColumns('users', ['deletion_requested_by', 'delete_after', 'deletion_requested_at']);
  }
}
