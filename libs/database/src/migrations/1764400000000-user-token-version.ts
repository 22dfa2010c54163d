import { TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * users.token_version: carried in every access token (`ver`) and compared by the auth guard, so a
 * password/email change, a deactivation or "log out everywhere" ends every session at once.
 */
export class UserTokenVersion1764400000000 implements MigrationInterface {
  name = 'UserTokenVersion1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('users', new TableColumn({ name: 'token_version', type: 'integer', default: 0 }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('users', 'token_version');
  }
}
