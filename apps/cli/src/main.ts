import { loadConfigOrExit } from '@echo/process';
import { createAdmin, CREATE_ADMIN_USAGE } from './create-admin.js';
import { auditStorage, AUDIT_STORAGE_USAGE } from './audit-storage.js';
import { generateMigration, runMigrations } from './migrations.js';

const USAGE = `usage: npm run cli -- <command>
  ${CREATE_ADMIN_USAGE}
  migration:run
  migration:generate <Name>
  seed [--users N --uploads N --analyses N]  (bench data set; see bench/)
  ${AUDIT_STORAGE_USAGE}  (storage objects without a row, rows without their object)`;

async function main(): Promise<void> {
  const [command, ...args] = process.argv.slice(2);
  const config = loadConfigOrExit();
  switch (command) {
    case 'create-admin':
      return createAdmin(config, args);
    case 'migration:run':
      return runMigrations(config);
    case 'migration:generate':
      return generateMigration(config, args[0] ?? '');
    case 'audit-storage':
      return auditStorage(config, args);
    case 'seed':
      return (await import('./seed/seed.js')).seed(config, args);
    default:
      console.error(USAGE);
      process.exitCode = 2;
  }
}

main().then(
  () => undefined,
  (err: unknown) => {
    console.error(`error: ${(err as Error).message}`);
    process.exitCode = 1;
  },
);
