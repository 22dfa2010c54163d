import { Table, TableForeignKey, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

export class CreateUploads1764200000000 implements MigrationInterface {
  name = 'CreateUploads1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'uploads',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'user_id', type: 'integer' },
          { name: 'title', type: 'varchar', length: '200', default: "''" },
          { name: 'original_name', type: 'varchar', length: '255', default: "''" },
          { name: 'content_type', type: 'varchar', length: '32' },
          { name: 'size', type: 'bigint' },
          { name: 'sha256', type: 'varchar', length: '64' },
          { name: 'width', type: 'integer' },
          { name: 'height', type: 'integer' },
          { name: 'storage_key', type: 'varchar', length: '300' },
          { name: 'created_at', type: 'datetime', precision: 3 },
        ],
        indices: [
          // Owner listings and their keyset cursors.
          new TableIndex({ name: 'ix_uploads_user_created', columnNames: ['user_id', 'created_at', 'id'] }),
          // Same bytes from the same user are one upload.
          new TableIndex({ name: 'uq_uploads_user_sha256', columnNames: ['user_id', 'sha256'], isUnique: true }),
          // Admin: all uploads, and filtered by content type.
          new TableIndex({ name: 'ix_uploads_created', columnNames: ['created_at', 'id'] }),
          new TableIndex({
            name: 'ix_uploads_content_type_created',
            columnNames: ['content_type', 'created_at', 'id'],
          }),
        ],
        foreignKeys: [
          new TableForeignKey({
            name: 'fk_uploads_user',
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
    await q.dropTable('uploads');
  }
}
