import { ConfigError, loadConfig } from '@echo/config';
import { createAdmin } from './create-admin.js';
import { generateMigration, runMigrations } from './migrations.js';

const USAGE = `usage: npm run cli -- <command>
  create-admin --username U --email E --password P
  migration:run
  migration:generate <Name>`;

async function main(): Promise<void> {
  const [command, ...args] = process.argv.slice(2);
  const config = loadConfig();
  switch (command) {
    case 'create-admin':
      return createAdmin(config, args);
    case 'migration:run':
      return runMigrations(config);
    case 'migration:generate':
      return generateMigration(config, args[0] ?? '');
    case 'seed':
      return (await import('./seed.js')).seed(config, args);
    default:
      console.error(USAGE);
      process.exitCode = 2;
  }
}

main().then(
  () => undefined,
  (err: unknown) => {
    console.error(err instanceof ConfigError ? err.message : `error: ${(err as Error).message}`);
    process.exitCode = 1;
  },
);
