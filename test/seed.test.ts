import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '@echo/config';
import { PasswordHasher } from '@echo/users';
import { seed, DEFAULT_SEED_PASSWORD } from '../apps/cli/src/seed/seed.js';
import { createTestDatabase } from './support/services.js';

const mysqlUp = process.env.ECHO_TEST_MYSQL === '1';

describe.skipIf(!mysqlUp)('seed command (bench data set) on MariaDB', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let conn: mysql.Connection;
  const config = () =>
    loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: db.url, JWT_SECRET: 'x'.repeat(40) });
  const rows = async <T>(sql: string) => (await conn.query(sql))[0] as T[];

  beforeAll(async () => {
    db = await createTestDatabase('seed');
    conn = await mysql.createConnection({ uri: db.url });
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    await conn?.end();
    await db?.drop();
  });

  it('writes exactly the asked sizes, through the entity metadata, with a working password', async () => {
    await seed(config(), ['--users', '40', '--uploads', '120', '--analyses', '50', '--batch', '16', '--seed', '7']);
    const [counts] = await rows<{ users: number; uploads: number; analyses: number }>(
      'SELECT (SELECT COUNT(*) FROM users) AS users, (SELECT COUNT(*) FROM uploads) AS uploads, (SELECT COUNT(*) FROM visual_analysis_results) AS analyses',
    );
    expect({ users: Number(counts.users), uploads: Number(counts.uploads), analyses: Number(counts.analyses) }).toEqual(
      { users: 40, uploads: 120, analyses: 50 },
    );
    // Every analysis belongs to its upload's owner; statuses are the app's.
    const [mismatch] = await rows<{ n: number }>(
      'SELECT COUNT(*) AS n FROM visual_analysis_results a JOIN uploads u ON u.id = a.upload_id WHERE a.user_id <> u.user_id',
    );
    expect(Number(mismatch.n)).toBe(0);
    const statuses = (await rows<{ status: string }>('SELECT DISTINCT status FROM visual_analysis_results')).map(
      (r) => r.status,
    );
    for (const status of statuses) expect(['queued', 'processing', 'completed', 'failed']).toContain(status);
    const [user] = await rows<{ password_hash: string }>('SELECT password_hash FROM users ORDER BY id LIMIT 1');
    expect(await new PasswordHasher().verify(user.password_hash, DEFAULT_SEED_PASSWORD)).toBe(true);
  });

  it('is reproducible for a --seed: the same users again after --reset', async () => {
    const names = async () =>
      (await rows<{ username: string }>('SELECT username FROM users ORDER BY id')).map((r) => r.username);
    const before = await names();
    await seed(config(), ['--users', '40', '--uploads', '120', '--analyses', '50', '--seed', '7', '--reset']);
    expect(await names()).toEqual(before);
    await seed(config(), ['--users', '40', '--uploads', '0', '--analyses', '0', '--seed', '8', '--reset']);
    expect(await names()).not.toEqual(before);
  });
});
