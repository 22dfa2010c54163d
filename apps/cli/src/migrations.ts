import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { buildDataSourceOptions } from '@echo/database';
import type { AppConfig } from '@echo/config';
import { Upload, UploadsRepository } from '@echo/uploads';
import { SearchBackfill } from '@echo/visual-analysis';
import { entities } from './entities.js';

const MIGRATIONS_DIR = 'libs/database/src/migrations';

export async function runMigrations(config: AppConfig): Promise<void> {
  const ds = new DataSource({ ...buildDataSourceOptions(config, entities), migrationsRun: false });
  await ds.initialize();
  try {
    const applied = await ds.runMigrations({ transaction: 'each' });
    console.log(applied.length ? `Applied: ${applied.map((m) => m.name).join(', ')}` : 'No pending migrations.');
    // Rows made before the search columns existed: filled in short batches (the API keeps serving).
    const filled = await new SearchBackfill(ds, new UploadsRepository(ds.getRepository(Upload))).run();
    if (filled) console.log(`Search columns filled on ${filled} uploads.`);
  } finally {
    await ds.destroy();
  }
}

/**
 * Writes the SQL that brings the database in line with the entities, as TypeORM's own
 * `migration:generate` does. Generated SQL is dialect-specific: Echo's migrations are kept
 * portable (QueryRunner table API), so port the generated statements before committing.
 */
export async function generateMigration(config: AppConfig, name: string): Promise<void> {
  if (!/^[A-Za-z][A-Za-z0-9]*$/.test(name)) throw new Error('usage: migration:generate <PascalCaseName>');
  const ds = new DataSource({ ...buildDataSourceOptions(config, entities), migrationsRun: false });
  await ds.initialize();
  try {
    await ds.runMigrations({ transaction: 'each' });
    const sql = await ds.driver.createSchemaBuilder().log();
    if (!sql.upQueries.length) {
      console.log('No changes: the entities match the migrations.');
      return;
    }
    const stamp = Date.now();
    const esc = (q: string) => q.replace(/`/g, '\\`');
    const up = sql.upQueries.map((q) => `    await q.query(\`${esc(q.query)}\`);`).join('\n');
    const down = sql.downQueries
      .reverse()
      .map((q) => `    await q.query(\`${esc(q.query)}\`);`)
      .join('\n');
    const file = join(
      MIGRATIONS_DIR,
      `${stamp}-${name.replace(/[A-Z]/g, (c, i) => (i ? '-' : '') + c.toLowerCase())}.ts`,
    );
    writeFileSync(
      file,
      `import type { MigrationInterface, QueryRunner } from 'typeorm';\n\n` +
        `// Generated against ${ds.options.type}. Port to the QueryRunner table API so SQLite runs it too,\n// then add it to migrations/index.ts.\n` +
        `export class ${name}${stamp} implements MigrationInterface {\n  name = '${name}${stamp}';\n\n` +
        `  async up(q: QueryRunner): Promise<void> {\n${up}\n  }\n\n  async down(q: QueryRunner): Promise<void> {\n${down}\n  }\n}\n`,
    );
    console.log(`Wrote ${file}`);
  } finally {
    await ds.destroy();
  }
}
