import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { INestApplicationContext } from '@nestjs/common';
import { loadConfig, type AppConfig } from '@echo/config';
import { createApiApp } from '../../apps/api/src/create-api-app.js';
import { createWorkerApp } from '../../apps/worker/src/create-worker-app.js';
import { createTestDatabase, REDIS_URL, uniquePrefix } from './services.js';

export const servicesUp = () => process.env.ECHO_TEST_MYSQL === '1' && process.env.ECHO_TEST_REDIS === '1';

export interface TestStack {
  config: AppConfig;
  /** The environment the config was loaded from (for spawning built apps against the same stack). */
  env: Record<string, string>;
  api: NestFastifyApplication;
  worker?: INestApplicationContext;
  close: () => Promise<void>;
}

/**
 * The API (and optionally the worker) on a fresh MariaDB database and private cache/queue
 * prefixes on the shared Redis, with migrations applied.
 */
export async function startStack(
  label: string,
  env: Record<string, string> = {},
  opts: { worker?: boolean } = {},
): Promise<TestStack> {
  const db = await createTestDatabase(label);
  const prefix = uniquePrefix(label);
  const fullEnv: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: db.url,
    REDIS_URL,
    CACHE_NAMESPACE: prefix,
    QUEUE_PREFIX: prefix,
    STORAGE_DIR: `.data/test-storage/${prefix}`,
    // In-process workers from parallel test files must not fight over one metrics port.
    WORKER_METRICS_PORT: '0',
    ...env,
  };
  const config = loadConfig(fullEnv);
  await runMigrations(config);
  const api = await createApiApp(config, { logger: false });
  await api.init();
  await api.getHttpAdapter().getInstance().ready();
  const worker = opts.worker ? await createWorkerApp(config, { logger: false }) : undefined;
  return {
    config,
    env: fullEnv,
    api,
    worker,
    close: async () => {
      await worker?.close();
      await api.close();
      await db.drop();
    },
  };
}

/** The embedded stack: SQLite file, in-memory cache, in-process jobs. */
export async function startEmbedded(label: string, env: Record<string, string> = {}): Promise<TestStack> {
  const prefix = uniquePrefix(label);
  const fullEnv = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    SQLITE_PATH: `.data/test/${prefix}.sqlite`,
    STORAGE_DIR: `.data/test-storage/${prefix}`,
    ...env,
  };
  const config = loadConfig(fullEnv);
  const api = await createApiApp(config, { logger: false });
  await api.init();
  await api.getHttpAdapter().getInstance().ready();
  return { config, env: fullEnv, api, close: () => api.close() };
}

export async function runMigrations(config: AppConfig): Promise<void> {
  const { DataSource } = await import('typeorm');
  const { buildDataSourceOptions } = await import('@echo/database');
  const ds = new DataSource({ ...buildDataSourceOptions(config), migrationsRun: false });
  await ds.initialize();
  await ds.runMigrations({ transaction: 'each' });
  await ds.destroy();
}

/** A second API app on the stack's database and Redis: what a second API process would be. */
export async function secondApi(stack: TestStack): Promise<NestFastifyApplication> {
  const app = await createApiApp(stack.config, { logger: false });
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}
