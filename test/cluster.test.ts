import { get } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, defaultApiWorkers, effectiveApiWorkers, loadConfig } from '@echo/config';
import { connectionBudget } from '@echo/database';
import { metricsAccess } from '@echo/metrics';
import { restartDelayMs } from '../apps/api/src/cluster-primary.js';
import { servicesUp } from './support/app.js';
import { createTestDatabase, uniquePrefix } from './support/services.js';
import { builtEnv, distBuilt, EchoProcess, freePort, migrateBuilt } from './support/processes.js';
import { waitFor } from './support/wait.js';

const GiB = 1024 ** 3;

describe('default API process count (API_WORKERS unset)', () => {
  // max(1, min(floor(cpus × 0.6), floor((memory_GiB − 2) / 0.5), 64))
  it.each([
    [1, 1, 1],
    [1, 2, 1],
    [2, 4, 1],
    [4, 8, 2], // seed's gunicorn table: 2–3
    [8, 16, 4], // 4–6
    [16, 32, 9], // 8–12
    [32, 64, 19],
    [64, 8, 12], // memory-bound
    [16, 3, 2], // memory-bound
    [128, 512, 64], // capped
  ])('%i CPUs, %i GiB → %i', (cpus, gib, expected) => {
    expect(defaultApiWorkers({ cpus, memoryBytes: gib * GiB })).toBe(expected);
  });

  it('embedded mode always runs one process; API_WORKERS > 1 without MySQL and Redis is refused', () => {
    expect(effectiveApiWorkers(loadConfig({}))).toBe(1);
    expect(
      effectiveApiWorkers(
        loadConfig({ API_WORKERS: '1', DATABASE_URL: 'mysql://echo@db/echo', REDIS_URL: 'redis://r:6379' }),
      ),
    ).toBe(1);
    expect(
      effectiveApiWorkers(
        loadConfig({ API_WORKERS: '3', DATABASE_URL: 'mysql://echo@db/echo', REDIS_URL: 'redis://r:6379' }),
      ),
    ).toBe(3);
    expect(() => loadConfig({ API_WORKERS: '2' })).toThrow(ConfigError);
    expect(() => loadConfig({ API_WORKERS: '2', DATABASE_URL: 'mysql://echo@db/echo' })).toThrow(/API_WORKERS/);
  });

  it('reads the metrics and connection budget settings with their defaults', () => {
    const config = loadConfig({});
    expect(config.metrics).toEqual({ token: undefined, host: '127.0.0.1', port: 9465, workerPort: 9464 });
    expect(config.database.expectedWorkerCopies).toBe(1);
    const set = loadConfig({
      METRICS_PORT: '0',
      WORKER_METRICS_PORT: '9999',
      METRICS_HOST: '0.0.0.0',
      DB_EXPECTED_WORKER_COPIES: '4',
    });
    expect(set.metrics).toMatchObject({ host: '0.0.0.0', port: 0, workerPort: 9999 });
    expect(set.database.expectedWorkerCopies).toBe(4);
  });
});

describe('connection budget', () => {
  it('(API_WORKERS + DB_EXPECTED_WORKER_COPIES) × DB_POOL_SIZE against max_connections, over at 90 %', () => {
    const ok = connectionBudget({ apiWorkers: 2, workerCopies: 1, poolSize: 10, maxConnections: 151 });
    expect(ok).toMatchObject({ needed: 30, over: false });
    expect(ok.formula).toBe(
      'API_WORKERS (2) × DB_POOL_SIZE (10) + DB_EXPECTED_WORKER_COPIES (1) × DB_POOL_SIZE (10) = 30 connections of max_connections 151 (20 %)',
    );
    expect(connectionBudget({ apiWorkers: 8, workerCopies: 1, poolSize: 10, maxConnections: 100 })).toMatchObject({
      needed: 90,
      over: false,
    });
    expect(connectionBudget({ apiWorkers: 9, workerCopies: 1, poolSize: 10, maxConnections: 100 })).toMatchObject({
      needed: 100,
      over: true,
    });
  });
});

describe('cluster primary restart back-off', () => {
  it('doubles from 0.5 s per crash in a row, capped at 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map(restartDelayMs)).toEqual([
      500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000,
    ]);
  });
});

describe('metrics access rule', () => {
  const token = 'a-metrics-token-0123456789';
  it.each([
    ['token set, right bearer', token, { authorization: `Bearer ${token}` }, '10.0.0.5', 'allowed'],
    ['token set, no header, even from loopback', token, {}, '127.0.0.1', 'unauthorized'],
    ['token set, wrong bearer', token, { authorization: 'Bearer nope' }, '127.0.0.1', 'unauthorized'],
    ['no token, loopback v4', undefined, {}, '127.0.0.1', 'allowed'],
    ['no token, loopback v6', undefined, {}, '::1', 'allowed'],
    ['no token, v4-mapped loopback', undefined, {}, '::ffff:127.0.0.1', 'allowed'],
    ['no token, remote', undefined, {}, '192.168.1.9', 'hidden'],
    ['no token, loopback through a proxy', undefined, { 'x-forwarded-for': '203.0.113.1' }, '127.0.0.1', 'hidden'],
    ['no token, Forwarded header', undefined, { forwarded: 'for=203.0.113.1' }, '127.0.0.1', 'hidden'],
  ] as const)('%s', (_, t, headers, address, expected) => {
    expect(metricsAccess(t, headers, address)).toBe(expected);
  });
});

/** GET over a new connection each time (node:cluster hands connections, not requests, to workers). */
function fetchFresh(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

const apiPids = (text: string) =>
  [...text.matchAll(/^echo_process_info\{role="api",pid="(\d+)"\} 1$/gm)].map((m) => Number(m[1])).sort();
const gauge = (text: string, line: string) =>
  Number(new RegExp(`^${line.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
const parentOf = (pid: number) =>
  existsSync(`/proc/${pid}/stat`)
    ? Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1])
    : undefined;

const built = distBuilt('api') && distBuilt('cli');
describe.skipIf(!servicesUp() || !built)(
  built
    ? 'API_WORKERS=2 from dist/: node:cluster primary + 2 workers'
    : 'API cluster — SKIPPED: dist/apps/api/src/main.js missing, run `npx nest build` first',
  () => {
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    let api: EchoProcess;
    let base: string;
    let metricsUrl: string;

    beforeAll(async () => {
      db = await createTestDatabase('cluster');
      const prefix = uniquePrefix('cluster');
      const port = await freePort();
      const metricsPort = await freePort();
      base = `http://127.0.0.1:${port}`;
      metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
      const env = builtEnv(db.url, prefix, { PORT: String(port), API_WORKERS: '2', METRICS_PORT: String(metricsPort) });
      await migrateBuilt(env);
      api = EchoProcess.spawn('api', env);
      await waitFor(
        async () => {
          if (api.exited) throw new Error(`the API exited: ${api.output}`);
          return (await fetchFresh(`${base}/health`)).status === 200;
        },
        40_000,
        '/health',
      );
    }, 90_000);

    afterAll(async () => {
      await api?.kill('SIGKILL');
      await db?.drop();
    });

    it('two worker processes, children of the primary, are listening and serving', async () => {
      const text = await waitFor(
        async () => {
          const res = await fetchFresh(metricsUrl);
          return res.status === 200 &&
            gauge(res.body, 'echo_cluster_workers{state="listening"}') === 2 &&
            apiPids(res.body).length === 2
            ? res.body
            : undefined;
        },
        20_000,
        'two listening workers in the aggregated metrics',
      );
      const pids = apiPids(text);
      expect(new Set(pids).size).toBe(2);
      expect(pids).not.toContain(api.child.pid);
      for (const pid of pids) if (existsSync('/proc')) expect(parentOf(pid)).toBe(api.child.pid);
      // Each worker starts with the V8 heap flags the primary gives it (API_HEAP_LIMIT_MB, API_SEMI_SPACE_MB defaults).
      for (const pid of pids)
        if (existsSync(`/proc/${pid}/cmdline`))
          expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toEqual(
            expect.arrayContaining(['--max-old-space-size=192', '--max-semi-space-size=8']),
          );
      for (const pid of pids)
        if (existsSync(`/proc/${pid}/environ`))
          expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toEqual(
            expect.arrayContaining(['MALLOC_ARENA_MAX=2', 'MALLOC_MMAP_THRESHOLD_=131072']),
          );
      expect(gauge(text, 'echo_cluster_worker_restarts_total')).toBe(0);
      // Aggregated over both workers: the default process metrics and Echo's.
      expect(text).toMatch(/^process_resident_memory_bytes \d/m);
      expect(text).toMatch(/^echo_db_queries_total \d/m);

      // Each worker's own /metrics on the shared port names its pid: over fresh connections,
      // both workers accept from the shared socket (SCHED_NONE), and both get some.
      const seen = new Set<number>();
      await waitFor(
        async () => {
          const res = await fetchFresh(`${base}/metrics`);
          expect(res.status).toBe(200);
          const own = apiPids(res.body);
          expect(own).toHaveLength(1);
          seen.add(own[0]);
          return seen.size === 2;
        },
        10_000,
        'both workers answering on the shared port',
      );
      expect([...seen].sort()).toEqual(pids);
    }, 40_000);

    it('a worker that dies is replaced', async () => {
      const before = apiPids((await fetchFresh(metricsUrl)).body);
      process.kill(before[0], 'SIGKILL');
      const text = await waitFor(
        async () => {
          const res = await fetchFresh(metricsUrl);
          const pids = apiPids(res.body);
          return gauge(res.body, 'echo_cluster_workers{state="listening"}') === 2 &&
            pids.length === 2 &&
            !pids.includes(before[0])
            ? res.body
            : undefined;
        },
        30_000,
        'a replacement worker',
      );
      expect(gauge(text, 'echo_cluster_worker_restarts_total')).toBe(1);
      expect(apiPids(text)).toContain(before[1]);
      expect((await fetchFresh(`${base}/health`)).status).toBe(200);
    }, 40_000);

    it('SIGTERM drains every worker and the primary exits 0 within 10 s', async () => {
      const workers = apiPids((await fetchFresh(metricsUrl)).body);
      const started = Date.now();
      const code = await api.kill('SIGTERM', 10_000);
      expect(code, api.output).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);
      for (const pid of workers) expect(() => process.kill(pid, 0)).toThrow();
    }, 20_000);
  },
);
