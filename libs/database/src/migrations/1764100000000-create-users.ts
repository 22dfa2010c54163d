import { Table, TableForeignKey, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

export class CreateUsers1764100000000 implements MigrationInterface {
  name = 'CreateUsers1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'users',
        columns: [
          { name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
          { name: 'username', type: 'varchar', length: '150' },
          { name: 'email', type: 'varchar', length: '254' },
          { name: 'password_hash', type: 'varchar', length: '255' },
          { name: 'display_name', type: 'varchar', length: '150', default: "''" },
          { name: 'role', type: 'varchar', length: '16', default: "'user'" },
          { name: 'is_active', type: 'boolean', default: true },
          { name: 'date_joined', type: 'datetime', precision: 3 },
          { name: 'last_login', type: 'datetime', precision: 3, isNullable: true },
        ],
        indices: [
          new TableIndex({ name: 'uq_users_username', columnNames: ['username'], isUnique: true }),
          new TableIndex({ name: 'uq_users_email', columnNames: ['email'], isUnique: true }),
          // Admin filters, each with the default ordering behind it.
          new TableIndex({ name: 'ix_users_is_active_date_joined', columnNames: ['is_active', 'date_joined'] }),
          new TableIndex({ name: 'ix_users_role_date_joined', columnNames: ['role', 'date_joined'] }),
          new TableIndex({ name: 'ix_users_date_joined', columnNames: ['date_joined', 'id'] }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'refresh_tokens',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'user_id', type: 'integer' },
          { name: 'family_id', type: 'varchar', length: '36' },
          { name: 'token_hash', type: 'varchar', length: '64' },
          { name: 'created_at', type: 'datetime', precision: 3 },
          { name: 'expires_at', type: 'datetime', precision: 3 },
          { name: 'used_at', type: 'datetime', precision: 3, isNullable: true },
          { name: 'revoked_at', type: 'datetime', precision: 3, isNullable: true },
        ],
        indices: [
          new TableIndex({ name: 'ix_refresh_tokens_user', columnNames: ['user_id'] }),
          new TableIndex({ name: 'ix_refresh_tokens_family', columnNames: ['family_id'] }),
        ],
        foreignKeys: [
          new TableForeignKey({
            name: 'fk_refresh_tokens_user',
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
    await q.dropTable('refresh_tokens');
    await q.dropTable('users');
  }
}
