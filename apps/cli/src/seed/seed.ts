import { randomBytes, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DataSource } from 'typeorm';
import type { AppConfig } from '@echo/config';
import { buildDataSourceOptions } from '@echo/database';
import { Upload } from '@echo/uploads';
// The app's own hasher, so the seeded hash uses exactly its argon2id parameters.
import { PasswordHasher, User } from '@echo/users';
import { VisualAnalysis, type AnalysisStatus } from '@echo/visual-analysis';
import { entities } from '../entities.js';
import { runMigrations } from '../migrations.js';
import { insertRows } from './insert-rows.js';
import { mulberry32, pick, shuffle, weighted } from './random.js';

const USAGE = 'usage: seed [--users 10000] [--uploads 200000] [--analyses 100000] [--password P] [--reset] [--seed 1] [--batch 1000]';
export const DEFAULT_SEED_PASSWORD = 'echo-bench-pass-1';
const DAY_MS = 24 * 3600 * 1000;

/**
 * `seed`: bulk test data for load benchmarks, straight SQL through the DataSource (multi-row
 * INSERTs of `--batch` rows, one transaction per batch). Refuses any database whose name does
 * not contain "bench" or "test". Users, and how uploads spread over them, are reproducible
 * for a given `--seed`; ids, hashes and sha256 values are random.
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
    },
  });
  const users = count(values.users, 'users', 1);
  const uploads = count(values.uploads, 'uploads', 0);
  const analyses = Math.min(count(values.analyses, 'analyses', 0), uploads);
  const batch = count(values.batch, 'batch', 1);
  const rand = mulberry32(count(values.seed, 'seed', 0));

  if (!config.database.url) throw new Error('seed needs DATABASE_URL (MySQL/MariaDB); the embedded SQLite database is not supported');
  const dbName = decodeURIComponent(new URL(config.database.url).pathname.replace(/^\//, ''));
  if (!/bench|test/i.test(dbName)) throw new Error(`refusing to seed database "${dbName}": its name must contain "bench" or "test"`);

  const started = Date.now();
  const timed = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    const out = await fn();
    console.log(`  ${label.padEnd(28)} ${((Date.now() - t) / 1000).toFixed(1)} s`);
    return out;
  };

  console.log(`Seeding ${dbName}: ${users} users, ${uploads} uploads, ${analyses} analyses (batches of ${batch})`);
  await timed('migrations', () => runMigrations(config));

  const ds = new DataSource({ ...buildDataSourceOptions(config, entities), migrationsRun: false, maxQueryExecutionTime: undefined });
  await ds.initialize();
  try {
    const [{ n: existing }] = (await ds.query('SELECT COUNT(*) AS n FROM users')) as { n: number | string }[];
    if (Number(existing) > 0 && !values.reset) {
      const [{ n: up }] = (await ds.query('SELECT COUNT(*) AS n FROM uploads')) as { n: number | string }[];
      console.log(`${dbName} already has ${existing} users and ${up} uploads: nothing done (pass --reset to seed again).`);
      return;
    }
    if (values.reset) await timed('reset (truncate)', () => truncateAll(ds));

    const hash = await timed('argon2id hash (one, shared)', () => new PasswordHasher().hash(values.password));
    const now = Date.now();
    const people = await timed(`users (${users})`, () => insertUsers(ds, users, hash, rand, now, batch));
    const totals = await timed(`uploads + analyses`, () => insertUploads(ds, people, uploads, analyses, rand, now, batch));
    await timed('analyze tables', () => ds.query('ANALYZE TABLE users, uploads, visual_analysis_results'));
    const secs = (Date.now() - started) / 1000;
    const rows = users + totals.uploads + totals.analyses;
    console.log(
      `Seeded ${users} users (${people.filter((p) => p.role === 'admin').length} admins, ${people.filter((p) => !p.active).length} inactive), ` +
        `${totals.uploads} uploads (max ${totals.maxPerUser} for one user), ${totals.analyses} analyses ` +
        `in ${secs.toFixed(1)} s (${Math.round(rows / secs)} rows/s). Password for every user: ${values.password}`,
    );
  } finally {
    await ds.destroy();
  }
}

function count(raw: string | undefined, name: string, min: number): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min} (got ${raw})\n${USAGE}`);
  return n;
}

async function truncateAll(ds: DataSource): Promise<void> {
  const qr = ds.createQueryRunner();
  try {
    // TRUNCATE refuses tables referenced by foreign keys unless the checks are off (this session only).
    await qr.query('SET FOREIGN_KEY_CHECKS = 0');
    for (const table of ['visual_analysis_results', 'uploads', 'refresh_tokens', 'users']) await qr.query(`TRUNCATE TABLE ${table}`);
  } finally {
    await qr.query('SET FOREIGN_KEY_CHECKS = 1').catch(() => undefined);
    await qr.release();
  }
}

// --- users ---

interface Person {
  id: number;
  role: 'user' | 'admin';
  active: boolean;
  joined: number;
}

const FIRST = [
  'james', 'mary', 'john', 'patricia', 'robert', 'jennifer', 'michael', 'linda', 'david', 'elizabeth', 'william', 'barbara',
  'richard', 'susan', 'joseph', 'jessica', 'thomas', 'sarah', 'carlos', 'karen', 'wei', 'yuki', 'aarav', 'fatima', 'olga',
  'lucas', 'sofia', 'mateo', 'amara', 'liam', 'noah', 'emma', 'olivia', 'ava', 'mia', 'hiro', 'priya', 'omar', 'ines', 'leo',
  'nina', 'ivan', 'chloe', 'zoe', 'kai', 'ana', 'jonas', 'lea', 'sven', 'maya',
];
const LAST = [
  'smith', 'johnson', 'williams', 'brown', 'jones', 'garcia', 'miller', 'davis', 'rodriguez', 'martinez', 'hernandez',
  'lopez', 'gonzalez', 'wilson', 'anderson', 'thomas', 'taylor', 'moore', 'jackson', 'martin', 'lee', 'nguyen', 'kim',
  'chen', 'wang', 'patel', 'singh', 'tanaka', 'sato', 'muller', 'schmidt', 'rossi', 'dubois', 'silva', 'santos', 'kowalski',
  'novak', 'ivanova', 'haddad', 'okafor', 'larsen', 'berg', 'costa', 'fischer', 'weber', 'cohen', 'murphy', 'kelly',
];
const DOMAINS = ['example.com', 'example.org', 'example.net', 'mail.example.com', 'photos.example.org'];

const cap = (s: string) => s[0].toUpperCase() + s.slice(1);

function username(first: string, last: string, rand: () => number, i: number): string {
  const n = Math.floor(rand() * 100);
  switch (Math.floor(rand() * 5)) {
    case 0:
      return `${first}.${last}`;
    case 1:
      return `${first}_${last}${n}`;
    case 2:
      return `${first[0]}${last}${1970 + (i % 40)}`;
    case 3:
      return `${first}${last}`;
    default:
      return `${first}.${last[0]}${n}`;
  }
}

async function insertUsers(ds: DataSource, total: number, hash: string, rand: () => number, now: number, batch: number): Promise<Person[]> {
  const admins = Math.max(1, Math.min(5, Math.round(total / 2000)));
  const taken = new Set<string>();
  const people: Person[] = [];
  let rows: Partial<Record<keyof User, unknown>>[] = [];
  for (let i = 0; i < total; i++) {
    const first = pick(FIRST, rand);
    const last = pick(LAST, rand);
    const admin = i < admins;
    let name = admin ? `admin.${first}` : username(first, last, rand, i);
    // Unique case-insensitively (all lower-case; the index collation is _ci). On a clash, `.<row>`:
    // no generated base ends in `.<digits>`, so suffixed names cannot clash again.
    if (taken.has(name)) name = `${name}.${i}`;
    taken.add(name);
    const id = i + 1;
    const active = admin || rand() >= 0.05;
    // Joined 1–3 years ago, so every upload (within the last year) comes after it.
    const joined = now - 365 * DAY_MS * (1 + 2 * rand());
    const lastLogin = rand() < 0.7 ? now - 60 * DAY_MS * rand() : null;
    people.push({ id, role: admin ? 'admin' : 'user', active, joined });
    rows.push({
      id,
      username: name,
      email: `${name}@${pick(DOMAINS, rand)}`,
      passwordHash: hash,
      displayName: rand() < 0.6 ? `${cap(first)} ${cap(last)}` : '',
      role: admin ? 'admin' : 'user',
      isActive: active ? 1 : 0,
      dateJoined: sqlDate(joined),
      lastLogin: lastLogin === null ? null : sqlDate(lastLogin),
    });
    if (rows.length >= batch) {
      await insertRows(ds, User, rows);
      rows = [];
    }
  }
  await insertRows(ds, User, rows);
  return people;
}

// --- uploads and analyses ---

/**
 * Uploads per user: 20 % of users have none; the rest get a share proportional to
 * 1 / (rank + 5)^0.9 in a shuffled order, so about 1 % of users (the heavy ones) own ~30 % of
 * the uploads while a typical user has a handful. Largest-remainder rounding hits `total`.
 */
function uploadCounts(people: Person[], total: number, rand: () => number): Map<number, number> {
  const uploaders = shuffle(people.filter(() => rand() >= 0.2), rand);
  if (!uploaders.length && people.length) uploaders.push(people[0]);
  const weights = uploaders.map((_, rank) => 1 / (rank + 6) ** 0.9);
  const sum = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (w / sum) * total);
  const counts = exact.map(Math.floor);
  let left = total - counts.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((x, i) => [x - Math.floor(x), i]).sort((a, b) => b[0] - a[0]);
  for (let k = 0; left > 0; k = (k + 1) % byRemainder.length, left--) counts[byRemainder[k][1]]++;
  return new Map(uploaders.map((p, i) => [p.id, counts[i]]));
}

interface Kind {
  type: string;
  format: string;
  weight: number;
  sizes: [number, number][];
  bytesPerPixel: number;
  name: (rand: () => number, at: Date) => string;
}

const stamp = (at: Date) => at.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '_');
const KINDS: Kind[] = [
  { type: 'image/jpeg', format: 'jpeg', weight: 0.68, sizes: [[4032, 3024], [3024, 4032], [4000, 3000], [1920, 1080], [1600, 1200], [1080, 1350]], bytesPerPixel: 0.3,
    name: (r, at) => (r() < 0.5 ? `IMG_${1000 + Math.floor(r() * 9000)}.JPG` : `PXL_${stamp(at)}${Math.floor(r() * 1000)}.jpg`) },
  { type: 'image/png', format: 'png', weight: 0.19, sizes: [[1170, 2532], [1920, 1080], [2560, 1440], [800, 600], [512, 512]], bytesPerPixel: 1.2,
    name: (_r, at) => `Screenshot ${at.toISOString().slice(0, 10)} at ${at.toISOString().slice(11, 19).replace(/:/g, '.')}.png` },
  { type: 'image/webp', format: 'webp', weight: 0.08, sizes: [[1080, 1080], [1200, 800], [1600, 900]], bytesPerPixel: 0.12, name: (r) => `image${Math.floor(r() * 100000)}.webp` },
  { type: 'image/gif', format: 'gif', weight: 0.02, sizes: [[480, 270], [320, 320]], bytesPerPixel: 2, name: (r) => `animation-${Math.floor(r() * 1000)}.gif` },
  { type: 'image/heic', format: 'heif', weight: 0.02, sizes: [[4032, 3024], [3024, 4032]], bytesPerPixel: 0.15, name: (r) => `IMG_${1000 + Math.floor(r() * 9000)}.HEIC` },
  { type: 'image/avif', format: 'avif', weight: 0.01, sizes: [[1920, 1080]], bytesPerPixel: 0.08, name: (r) => `photo-${Math.floor(r() * 10000)}.avif` },
];
const TITLES = ['Beach day', 'Sunset', 'Receipt', 'Birthday', 'Hike', 'Whiteboard', 'Cat', 'Dinner', 'Concert', 'Garden', 'Snow', 'Road trip'];
const CAMERAS: [string, string][] = [['Apple', 'iPhone 15 Pro'], ['Google', 'Pixel 8'], ['samsung', 'SM-S918B'], ['Canon', 'EOS R6'], ['SONY', 'ILCE-7M4'], ['FUJIFILM', 'X-T5']];
const FAILURES = [
  'The image could not be decoded: VipsJpeg: premature end of JPEG image.',
  'The analysis failed after 3 attempts (ENOENT). An admin can retry it.',
  'Image is 12000×9000 pixels, over the 50000000 pixel limit.',
];

async function insertUploads(ds: DataSource, people: Person[], total: number, analysesWanted: number, rand: () => number, now: number, batch: number) {
  const perUser = uploadCounts(people, total, rand);
  let uploadRows: Partial<Record<keyof Upload, unknown>>[] = [];
  let analysisRows: Partial<Record<keyof VisualAnalysis, unknown>>[] = [];
  let seen = 0;
  let analysesLeft = analysesWanted;
  let uploadsDone = 0;
  let analysesDone = 0;
  let maxPerUser = 0;
  let lastReport = Date.now();

  const flush = async () => {
    // Uploads first (the analyses reference them), both in one transaction.
    await ds.transaction(async (em) => {
      const qr = em.queryRunner!;
      await insertRows(ds, Upload, uploadRows, qr);
      await insertRows(ds, VisualAnalysis, analysisRows, qr);
    });
    uploadsDone += uploadRows.length;
    analysesDone += analysisRows.length;
    uploadRows = [];
    analysisRows = [];
    if (Date.now() - lastReport > 5000) {
      lastReport = Date.now();
      console.log(`    … ${uploadsDone}/${total} uploads, ${analysesDone} analyses`);
    }
  };

  for (const [userId, n] of perUser) {
    maxPerUser = Math.max(maxPerUser, n);
    for (let k = 0; k < n; k++) {
      const kind = weighted(KINDS, rand);
      const [width, height] = pick(kind.sizes, rand);
      const createdAt = now - 365 * DAY_MS * rand();
      const at = new Date(createdAt);
      const size = Math.max(2048, Math.round(width * height * kind.bytesPerPixel * (0.5 + rand())));
      const id = randomUUID();
      uploadRows.push({
        id,
        userId,
        title: rand() < 0.6 ? '' : pick(TITLES, rand),
        originalName: kind.name(rand, at),
        contentType: kind.type,
        size,
        sha256: randomBytes(32).toString('hex'),
        width,
        height,
        storageKey: `${userId}/${id}`,
        createdAt: sqlDate(createdAt),
      });

      // Selection sampling: exactly `analysesWanted` uploads, uniformly spread.
      if (rand() * (total - seen) < analysesLeft) {
        analysesLeft--;
        analysisRows.push(analysisRow(id, userId, kind, width, height, size, createdAt, now, rand));
      }
      seen++;
      if (uploadRows.length >= batch) await flush();
    }
  }
  await flush();
  return { uploads: uploadsDone, analyses: analysesDone, maxPerUser };
}

function analysisRow(
  uploadId: string, userId: number, kind: Kind, width: number, height: number, size: number, createdAt: number, now: number, rand: () => number,
): Partial<Record<keyof VisualAnalysis, unknown>> {
  const roll = rand();
  const status: AnalysisStatus = roll < 0.92 ? 'completed' : roll < 0.97 ? 'failed' : 'queued';
  const started = status === 'queued' ? null : Math.min(now, createdAt + 200 + rand() * 3000);
  const completed = started === null ? null : Math.min(now, started + 300 + rand() * 2500);
  const phash = randomBytes(8).toString('hex');
  const result = status === 'completed' ? JSON.stringify(fakeResult(kind, width, height, size, phash, createdAt, rand)) : null;
  return {
    id: randomUUID(),
    uploadId,
    userId,
    status,
    progress: status === 'completed' ? 100 : status === 'failed' ? 40 : 0,
    attempts: status === 'queued' ? 0 : status === 'failed' ? 1 + Math.floor(rand() * 3) : 1,
    error: status === 'failed' ? pick(FAILURES, rand) : null,
    result,
    phash: status === 'completed' ? phash : null,
    analyzerVersion: '1.0.0',
    createdAt: sqlDate(createdAt),
    startedAt: started === null ? null : sqlDate(started),
    completedAt: completed === null ? null : sqlDate(completed),
  };
}

/** The analyzer's result keys (AnalysisResult) plus near_duplicates, with plausible values. */
function fakeResult(kind: Kind, width: number, height: number, size: number, phash: string, createdAt: number, rand: () => number) {
  const camera = kind.format === 'jpeg' || kind.format === 'heif';
  const orientation = camera && rand() < 0.3 ? 6 : 1;
  const swapped = orientation >= 5;
  const palette = Array.from({ length: 5 }, () => `#${randomBytes(3).toString('hex')}`);
  const [make, model] = pick(CAMERAS, rand);
  const exif = camera && rand() < 0.8 ? { make, model, taken_at: new Date(createdAt - rand() * 3600_000).toISOString().slice(0, 19), ...(rand() < 0.4 ? { gps: true } : {}) } : {};
  const round = (x: number, d = 4) => Math.round(x * 10 ** d) / 10 ** d;
  return {
    format: kind.format,
    width,
    height,
    orientation,
    oriented_width: swapped ? height : width,
    oriented_height: swapped ? width : height,
    color_space: 'srgb',
    has_alpha: kind.format === 'png' && rand() < 0.3,
    bit_depth: 8,
    size,
    exif,
    dominant_color: palette[0],
    palette,
    brightness: round(0.2 + rand() * 0.6),
    contrast: round(0.2 + rand() * 0.6),
    sharpness: round(50 + rand() * 2000, 2),
    entropy: round(5 + rand() * 2.9),
    phash,
    placeholder: randomBytes(24).toString('base64'),
    thumbnail: true,
    near_duplicates: [],
  };
}

// --- helpers ---

function sqlDate(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}
