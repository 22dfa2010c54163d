import { CreateUsers1764100000000 } from './1764100000000-create-users.js';

// Every migration, in order. Written with TypeORM's QueryRunner table API (not raw SQL) so the
// same migration runs on MySQL/MariaDB and on embedded SQLite.
export const migrations = [CreateUsers1764100000000];
