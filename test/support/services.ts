import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { Redis } from 'ioredis';

export const MYSQL_URL_BASE = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** CI sets REQUIRE_SERVICES=1: a suite that cannot reach MariaDB/Redis fails instead of skipping. */
export const REQUIRE_SERVICES = process.env.REQUIRE_SERVICES === '1';

export async function mysqlAvailable(): Promise<boolean> {
  try {
    const conn = await mysql.createConnection({ uri: MYSQL_URL_BASE, connectTimeout: 1000 });
    await conn.end();
    return true;
  } catch {
    return false;
  }
}

export async function redisAvailable(): Promise<boolean> {
  const redis = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
  });
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/**
 * A fresh database for one test file. Refuses any name without "test" in it, so a test can
 * never touch a real database.
 */
export async function createTestDatabase(
  label: string,
): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const name = `echo_test_${label.replace(/[^a-z0-9]/gi, '_').slice(0, 24)}_${randomBytes(3).toString('hex')}`;
  if (!name.includes('test')) throw new Error(`refusing to use non-test database ${name}`);
  const admin = await mysql.createConnection({ uri: MYSQL_URL_BASE });
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await admin.end();
  return {
    name,
    url: `${MYSQL_URL_BASE}/${name}`,
    drop: async () => {
      const conn = await mysql.createConnection({ uri: MYSQL_URL_BASE });
      await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await conn.end();
    },
  };
}

/** A unique prefix so parallel test files never share cache or queue keys on the shared Redis. */
export function uniquePrefix(label: string): string {
  return `t_${label}_${randomBytes(3).toString('hex')}`;
}
