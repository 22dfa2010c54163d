import { Table, TableForeignKey, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The word index of `q` (issue 22): one row per distinct word of an upload's title and file name,
 * with the owner and both ordering dates, so an owner's word search is one index range in the
 * list's order (and its count one range count) instead of a LIKE over every row. Rows go with
 * their upload (ON DELETE CASCADE). Existing uploads get their words from the search backfill.
 */
export class UploadWords1764800000000 implements MigrationInterface {
  name = 'UploadWords1764800000000';

  async up(q: QueryRunner): Promise<void> {
    const mysql = q.connection.options.type !== 'better-sqlite3';
    await q.createTable(
      new Table({
        name: 'upload_words',
        columns: [
          { name: 'upload_id', type: 'varchar', length: '36', isPrimary: true },
          // Byte-exact: two words a case- or accent-insensitive collation equates would collide in the key.
          {
            name: 'word',
            type: 'varchar',
            length: '64',
            isPrimary: true,
            ...(mysql ? { collation: 'utf8mb4_bin' } : {}),
          },
          { name: 'user_id', type: 'integer' },
          { name: 'created_at', type: 'datetime', precision: 3 },
          { name: 'taken_at', type: 'datetime', precision: 3, isNullable: true },
        ],
        indices: [
          new TableIndex({
            name: 'ix_upload_words_user_created',
            columnNames: ['user_id', 'word', 'created_at', 'upload_id'],
          }),
          new TableIndex({
            name: 'ix_upload_words_user_taken',
            columnNames: ['user_id', 'word', 'taken_at', 'upload_id'],
          }),
        ],
        foreignKeys: [
          new TableForeignKey({
            name: 'fk_upload_words_upload',
            columnNames: ['upload_id'],
            referencedTableName: 'uploads',
            referencedColumnNames: ['id'],
            onDelete: 'CASCADE',
          }),
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('upload_words');
  }
}
