import { CreateUsers1764100000000 } from './1764100000000-create-users.js';
import { CreateUploads1764200000000 } from './1764200000000-create-uploads.js';
import { CreateVisualAnalysis1764300000000 } from './1764300000000-create-visual-analysis.js';
import { UserTokenVersion1764400000000 } from './1764400000000-user-token-version.js';
import { AdminStatsIndexes1764480000000 } from './1764480000000-admin-stats-indexes.js';
import { UploadSearch1764600000000 } from './1764600000000-upload-search.js';
import { AccountDeletion1764700000000 } from './1764700000000-account-deletion.js';
import { CreateExports1764710000000 } from './1764710000000-create-exports.js';
import { CreateAuditLog1764720000000 } from './1764720000000-create-audit-log.js';
import { UploadWords1764800000000 } from './1764800000000-upload-words.js';
import { UploadCountIndexes1764810000000 } from './1764810000000-upload-count-indexes.js';
import { PurgeClaim1764900000000 } from './1764900000000-purge-claim.js';
import { ExportTokenVersion1764910000000 } from './1764910000000-export-token-version.js';

// Every migration, in order. Written with TypeORM's QueryRunner table API (not raw SQL) so the
// same migration runs on MySQL/MariaDB and on embedded SQLite.
export const migrations = [
  CreateUsers1764100000000,
  CreateUploads1764200000000,
  CreateVisualAnalysis1764300000000,
  UserTokenVersion1764400000000,
  AdminStatsIndexes1764480000000,
  UploadSearch1764600000000,
  AccountDeletion1764700000000,
  CreateExports1764710000000,
  CreateAuditLog1764720000000,
  UploadWords1764800000000,
  UploadCountIndexes1764810000000,
  PurgeClaim1764900000000,
  ExportTokenVersion1764910000000,
];
