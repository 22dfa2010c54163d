import { TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * exports.token_version: the owner's users.token_version when the export was requested. A
 * download is refused once it differs (the owner signed out everywhere, changed their password,
 * was deactivated or scheduled for deletion), so ending the sessions also revokes the links.
 * Null on rows made before it: those are checked for the owner's state only, until they expire.
 */
export class ExportTokenVersion1764910000000 implements MigrationInterface {
  name = 'ExportTokenVersion1764910000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('exports', new TableColumn({ name: 'token_version', type: 'integer', isNullable: true }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('exports', 'token_version');
  }
}
