// Starts the built API and worker against a benchmark database, with private Redis prefixes,
// a temp storage dir and throttling out of the way; removes their Redis keys afterwards.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, runNode, startNode, stop, waitForHttp, waitForLog } from './processes.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const API_MAIN = join(ROOT, 'dist/apps/api/src/main.js');
export const WORKER_MAIN = join(ROOT, 'dist/apps/worker/src/main.js');
export const CLI_MAIN = join(ROOT, 'dist/apps/cli/src/main.js');
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function assertBuilt() {
  for (const file of [API_MAIN, WORKER_MAIN, CLI_MAIN]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first (npm run bench does)`);
  }
}

/** Settings shared by the API and the worker of one harness run. */
export function stackSettings({ databaseUrl, tempDir, label = 'bench' }) {
  const prefix = `${label}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const storageDir = join(tempDir, 'storage');
  mkdirSync(storageDir, { recursive: true });
  return {
    prefix,
    tempDir,
    databaseUrl,
    metricsToken: randomBytes(24).toString('hex'),
    env: {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      ALLOWED_HOSTS: '127.0.0.1,localhost',
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      CACHE_NAMESPACE: prefix,
      QUEUE_PREFIX: prefix,
      STORAGE_DRIVER: 'local',
      STORAGE_DIR: storageDir,
      JWT_SECRET: randomBytes(32).toString('hex'),
      // A run is longer than the default 15 min access token.
      JWT_ACCESS_TTL_SECONDS: '86400',
      // The harness logs in hundreds of users from one IP.
      THROTTLE_AUTH_LIMIT: '1000000',
      THROTTLE_AUTH_TTL_SECONDS: '1',
      // Node's defaults unless BENCH_NODE_OPTIONS says otherwise (a 128 MB heap cap ran out of
      // memory at 500 connections on 200-item admin pages: measured, not guessed).
      ...(process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {}),
      // Seeded "queued" analyses have no files: keep the reconciler from re-enqueueing them mid-run.
      MAINTENANCE_EVERY_SECONDS: '86400',
      ANALYSIS_STUCK_AFTER_SECONDS: '86400',
    },
  };
}

function childEnv(settings, extra) {
  const env = { ...process.env, ...settings.env, METRICS_TOKEN: settings.metricsToken };
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined || value === null) delete env[key];
    else env[key] = String(value);
  }
  return env;
}

/** migration:run through the built CLI (the seed runs them too; this catches new ones). */
export async function runMigrations(settings) {
  await runNode(CLI_MAIN, ['migration:run'], childEnv(settings, { LOG_LEVEL: 'warn' }));
}

/**
 * The API: `node dist/apps/api/src/main.js`, ready when /health/ready answers 200.
 * `extra` overrides env (API_WORKERS, DB_POOL_SIZE, CACHE_TTL_SECONDS, …).
 */
export async function startApi(settings, extra = {}, logName = 'api') {
  const port = await freePort();
  const metricsPort = await freePort();
  const env = childEnv(settings, { PORT: port, METRICS_PORT: metricsPort, ...extra });
  const proc = startNode('api', API_MAIN, [], env, join(settings.tempDir, `${logName}.log`));
  await waitForHttp(`http://127.0.0.1:${port}/health/ready`, { proc, timeoutMs: 90_000 }).catch(async (err) => {
    await stop(proc);
    throw err;
  });
  return {
    proc,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    // Cluster mode: the primary's aggregation of every worker. One process: its own /metrics.
    clusterMetricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    processMetricsUrl: `http://127.0.0.1:${port}/metrics`,
    env,
    stop: () => stop(proc),
  };
}

/** The worker app: ready when it logs "Echo worker started". */
export async function startWorker(settings, extra = {}, logName = 'worker') {
  const metricsPort = await freePort();
  const env = childEnv(settings, { WORKER_METRICS_PORT: metricsPort, ...extra });
  const proc = startNode('worker', WORKER_MAIN, [], env, join(settings.tempDir, `${logName}.log`));
  await waitForLog(proc, /Echo worker started/, 90_000).catch(async (err) => {
    await stop(proc);
    throw err;
  });
  return { proc, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`, env, stop: () => stop(proc) };
}

/** Deletes every Redis key of this run (queue db 0 and cache db 1 by default). */
export async function cleanRedis(settings, dbs = [0, 1]) {
  let removed = 0;
  for (const db of dbs) {
    const redis = new Redis(REDIS_URL, { db, lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000 });
    try {
      await redis.connect();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${settings.prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) removed += await redis.del(...keys);
      } while (cursor !== '0');
    } catch {
      // Redis away: nothing to clean
    } finally {
      redis.disconnect();
    }
  }
  return removed;
}

/**
 * Where the API's totals are: the cluster primary's aggregated endpoint, or (no cluster workers)
 * the single process' own /metrics. Null when neither answers.
 */
export async function apiMetricsUrl(api, clusterWorkers, token, scrapeFn) {
  const urls = clusterWorkers > 0 ? [api.clusterMetricsUrl] : [api.clusterMetricsUrl, api.processMetricsUrl];
  for (const url of urls) if (await scrapeFn(url, token)) return url;
  return null;
}
