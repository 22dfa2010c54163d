// Every migration, in order. Written with TypeORM's QueryRunner table API (not raw SQL) so the
// same migration runs on MySQL/MariaDB and on embedded SQLite.
export const migrations = [];
