import { parseArgs } from 'node:util';
import { DataSource } from 'typeorm';
import type { AppConfig } from '@echo/config';
import { buildDataSourceOptions } from '@echo/database';
// The app's own hasher, so the seeded hash uses exactly its argon2id parameters.
import { PasswordHasher } from '@echo/users';
import { entities } from '../entities.js';
import { runMigrations } from '../migrations.js';
import { insertUsers } from './users.js';
import { insertUploads } from './uploads.js';
import { mulberry32 } from './random.js';

const USAGE =
  'usage: seed [--users 10000] [--uploads 200000] [--analyses 100000] [--big-users 2000,20000] [--password P] [--reset] [--seed 1] [--batch 1000]';
export const DEFAULT_SEED_PASSWORD = 'echo-bench-pass-1';

/**
 * `seed`: bulk test data for load benchmarks, straight SQL through the DataSource (multi-row
 * INSERTs of `--batch` rows, one transaction per batch). Refuses any database whose name does
 * not contain "bench" or "test". Users, how uploads spread over them and what each upload's
 * analysis saw (so its search columns) are reproducible for a given `--seed`; ids, sha256 values,
 * the password hash and placeholders are random. `--big-users 2000,20000` gives that many uploads
 * (all analysed, within `--analyses`) to as many chosen users, out of `--uploads`: the search bench's
 * libraries.
 */
export async function seed(config: AppConfig, argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      users: { type: 'string', default: '10000' },
      uploads: { type: 'string', default: '200000' },
      analyses: { type: 'string', default: '100000' },
      password: { type: 'string', default: DEFAULT_SEED_PASSWORD },
      reset: { type: 'boolean', default: false },
      seed: { type: 'string', default: '1' },
      batch: { type: 'string', default: '1000' },
      'big-users': { type: 'string', default: '' },
    },
  });
  const users = count(values.users, 'users', 1);
  const uploads = count(values.uploads, 'uploads', 0);
  const analyses = Math.min(count(values.analyses, 'analyses', 0), uploads);
  const batch = count(values.batch, 'batch', 1);
  const bigUsers = values['big-users']
    ? values['big-users'].split(',').map((n) => count(n.trim(), 'big-users', 1))
    : [];
  if (bigUsers.reduce((a, b) => a + b, 0) > uploads)
    throw new Error(`--big-users (${bigUsers.join(' + ')}) must fit in --uploads ${uploads}\n${USAGE}`);
  const rand = mulberry32(count(values.seed, 'seed', 0));

  if (!config.database.url)
    throw new Error('seed needs DATABASE_URL (MySQL/MariaDB); the embedded SQLite database is not supported');
  const dbName = decodeURIComponent(new URL(config.database.url).pathname.replace(/^\//, ''));
  if (!/bench|test/i.test(dbName))
    throw new Error(`refusing to seed database "${dbName}": its name must contain "bench" or "test"`);

  const started = Date.now();
  const timed = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    const out = await fn();
    console.log(`  ${label.padEnd(28)} ${((Date.now() - t) / 1000).toFixed(1)} s`);
    return out;
  };

  console.log(`Seeding ${dbName}: ${users} users, ${uploads} uploads, ${analyses} analyses (batches of ${batch})`);
  await timed('migrations', () => runMigrations(config));

  const ds = new DataSource({
    ...buildDataSourceOptions(config, entities),
    migrationsRun: false,
    maxQueryExecutionTime: undefined,
  });
  await ds.initialize();
  try {
    const [{ n: existing }] = (await ds.query('SELECT COUNT(*) AS n FROM users')) as { n: number | string }[];
    if (Number(existing) > 0 && !values.reset) {
      const [{ n: up }] = (await ds.query('SELECT COUNT(*) AS n FROM uploads')) as { n: number | string }[];
      console.log(
        `${dbName} already has ${existing} users and ${up} uploads: nothing done (pass --reset to seed again).`,
      );
      return;
    }
    if (values.reset) await timed('reset (truncate)', () => truncateAll(ds));

    const hash = await timed('argon2id hash (one, shared)', () => new PasswordHasher().hash(values.password));
    const now = Date.now();
    const people = await timed(`users (${users})`, () => insertUsers(ds, users, hash, rand, now, batch));
    const totals = await timed(`uploads + analyses`, () =>
      insertUploads(ds, people, uploads, analyses, rand, now, batch, bigUsers),
    );
    await timed('analyze tables', () =>
      ds.query('ANALYZE TABLE users, uploads, upload_words, visual_analysis_results'),
    );
    const secs = (Date.now() - started) / 1000;
    const rows = users + totals.uploads + totals.analyses;
    console.log(
      `Seeded ${users} users (${people.filter((p) => p.role === 'admin').length} admins, ${people.filter((p) => !p.active).length} inactive), ` +
        `${totals.uploads} uploads (max ${totals.maxPerUser} for one user), ${totals.analyses} analyses ` +
        `in ${secs.toFixed(1)} s (${Math.round(rows / secs)} rows/s). Password for every user: ${values.password}`,
    );
    for (const big of totals.big) console.log(`  big user #${big.id}: ${big.uploads} uploads`);
  } finally {
    await ds.destroy();
  }
}

function count(raw: string | undefined, name: string, min: number): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min)
    throw new Error(`--${name} must be an integer ≥ ${min} (got ${raw})\n${USAGE}`);
  return n;
}

async function truncateAll(ds: DataSource): Promise<void> {
  const qr = ds.createQueryRunner();
  try {
    // TRUNCATE refuses tables referenced by foreign keys unless the checks are off (this session only).
    await qr.query('SET FOREIGN_KEY_CHECKS = 0');
    for (const { tableName } of ds.entityMetadatas) await qr.query(`TRUNCATE TABLE \`${tableName}\``);
  } finally {
    await qr.query('SET FOREIGN_KEY_CHECKS = 1').catch(() => undefined);
    await qr.release();
  }
}
