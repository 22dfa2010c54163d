import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mysql from 'mysql2/promise';
import { DataSource } from 'typeorm';
import { loadConfig } from '@echo/config';
import { createApiApp } from '../apps/api/src/create-api-app.js';
import { runMigrations, servicesUp, startStack, type TestStack } from './support/app.js';
import { createTestDatabase, MYSQL_URL_BASE, REDIS_URL, uniquePrefix } from './support/services.js';
import { PASSWORD, register, type Session } from './support/users.js';
import { multipart, solidPng } from './support/images.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { distBuilt, EchoProcess, freePort } from './support/processes.js';
import { waitFor } from './support/wait.js';

/** Runs `total` requests, `concurrency` at a time; returns their status codes. */
async function load(total: number, concurrency: number, send: (i: number) => Promise<number>): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) statuses.push(await send(next++));
    }),
  );
  return statuses;
}

describe.skipIf(!servicesUp())('fault drill: every pool connection KILLed under load', () => {
  let stack: TestStack;
  let user: Session;
  beforeAll(async () => {
    stack = await startStack('killdrill', { DB_POOL_SIZE: '5' });
    user = await register(stack.api, 'kill');
  });
  afterAll(() => stack?.close());

  it('reads keep answering 200 while the pool is killed twice mid-load', async () => {
    const db = stack.api.get(DataSource);
    const dbName =
      (db.options as { database?: string }).database ?? new URL(stack.config.database.url!).pathname.slice(1);
    const admin = await mysql.createConnection({ uri: MYSQL_URL_BASE });
    const killAll = async () => {
      const [rows] = await admin.query(
        'SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
        [dbName],
      );
      for (const { ID } of rows as { ID: number }[]) await admin.query(`KILL ${ID}`).catch(() => undefined);
      return (rows as unknown[]).length;
    };
    let killed = 0;
    const statuses = await load(400, 20, async (i) => {
      if (i === 100 || i === 250) killed += await killAll();
      const res = await stack.api.inject({ method: 'GET', url: '/api/uploads?page_size=5', headers: user.auth });
      return res.statusCode;
    });
    await admin.end();
    expect(killed).toBeGreaterThan(0);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  });
});

describe.skipIf(!servicesUp())('fault drill: MariaDB refuses new connections briefly', () => {
  let proxy: TcpProxy;
  let api: Awaited<ReturnType<typeof createApiApp>>;
  let drop: () => Promise<void>;
  let user: Session;

  beforeAll(async () => {
    const db = await createTestDatabase('refuse');
    drop = db.drop;
    proxy = new TcpProxy({ host: '127.0.0.1', port: 3306 });
    await proxy.listen();
    const prefix = uniquePrefix('refuse');
    const config = loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATABASE_URL: `mysql://root@127.0.0.1:${proxy.port}/${db.name}`,
      REDIS_URL,
      CACHE_NAMESPACE: prefix,
      QUEUE_PREFIX: prefix,
      DB_POOL_SIZE: '4',
    });
    await runMigrations(config);
    api = await createApiApp(config, { logger: false });
    await api.init();
    await api.getHttpAdapter().getInstance().ready();
    user = await register(api, 'refuse');
  });
  afterAll(async () => {
    await api?.close();
    await proxy?.close();
    await drop?.();
  });

  it('answers 503 with Retry-After while refused, and recovers by itself', async () => {
    // A new filter value each time: a cache miss, so the request needs the database.
    let n = 0;
    const list = () =>
      api.inject({
        method: 'GET',
        url: `/api/uploads?created_before=${new Date(Date.now() + 60_000 + n++).toISOString()}`,
        headers: user.auth,
      });
    expect((await list()).statusCode).toBe(200);
    await proxy.refuse();
    const during = await list();
    expect(during.statusCode).toBe(503);
    expect(during.headers['retry-after']).toBe('1');
    expect(during.json()).toEqual({ detail: expect.any(String) });
    const ready = await api.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(503);
    // Cached reads still work: the profile does not need the database.
    expect((await api.inject({ method: 'GET', url: '/api/users/me', headers: user.auth })).statusCode).toBe(200);
    await proxy.listen();
    const after = await waitFor(
      async () => {
        const res = await list();
        return res.statusCode === 200 ? res : undefined;
      },
      10_000,
      'recovery',
    );
    expect(after.json().count).toBe(0);
  });
});

describe.skipIf(!servicesUp() || !distBuilt('api'))(
  'scale-out drill: 2 API processes + 2 workers on one MariaDB and Redis',
  () => {
    let stack: TestStack;
    const procs: EchoProcess[] = [];
    const bases: string[] = [];

    beforeAll(async () => {
      // The in-process stack only creates the database, migrations and env; the work is done by built processes.
      stack = await startStack('scaleout', { THROTTLE_AUTH_LIMIT: '4', LOG_LEVEL: 'warn' });
      for (let i = 0; i < 2; i++) {
        const port = await freePort();
        procs.push(
          EchoProcess.spawn('api', {
            ...stack.env,
            PORT: String(port),
            HOST: '127.0.0.1',
            API_WORKERS: '1',
            METRICS_PORT: '0',
          }),
        );
        bases.push(`http://127.0.0.1:${port}`);
        procs.push(EchoProcess.spawn('worker', { ...stack.env, WORKER_METRICS_PORT: '0', WORKER_CONCURRENCY: '2' }));
      }
      for (const base of bases)
        await waitFor(async () => (await fetch(`${base}/health`).catch(() => null))?.ok, 20_000, `${base}/health`);
    });
    afterAll(async () => {
      for (const p of procs) await p.kill('SIGTERM');
      await stack?.close();
    });

    const json = async (base: string, path: string, init: RequestInit = {}) => {
      const res = await fetch(`${base}${path}`, init);
      const body: any = res.status === 204 ? null : await res.json();
      return { status: res.status, body, headers: res.headers };
    };

    it('every analysis is done exactly once, whichever API took the upload', async () => {
      const reg = await json(bases[0], '/api/auth/register', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'scale', email: 'scale@example.com', password: PASSWORD }),
      });
      const auth = { authorization: `Bearer ${reg.body.access}` };
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) {
        const form = multipart([{ name: 'file', filename: `${i}.png`, data: await solidPng(20 + i, 20, '#336699') }]);
        const res = await json(bases[i % 2], '/api/uploads', {
          method: 'POST',
          headers: { ...auth, ...form.headers },
          body: form.payload,
        });
        expect(res.status).toBe(201);
        ids.push(res.body.analysis.id);
      }
      const db = stack.api.get(DataSource);
      const rows = await waitFor(
        async () => {
          const r = (await db.query(
            `SELECT status, attempts FROM visual_analysis_results WHERE id IN (${ids.map(() => '?').join(',')})`,
            ids,
          )) as { status: string; attempts: number }[];
          return r.every((x) => x.status === 'completed') ? r : undefined;
        },
        40_000,
        'all analyses',
      );
      expect(rows.map((r) => r.attempts)).toEqual(ids.map(() => 1));
    });

    it('a profile change through one API process is seen by the other at once', async () => {
      const reg = await json(bases[0], '/api/auth/register', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'twin', email: 'twin@example.com', password: PASSWORD }),
      });
      const auth = { authorization: `Bearer ${reg.body.access}`, 'content-type': 'application/json' };
      expect((await json(bases[1], '/api/users/me', { headers: auth })).body.display_name).toBe(''); // cached in Redis now
      await json(bases[0], '/api/users/me', {
        method: 'PATCH',
        headers: auth,
        body: JSON.stringify({ display_name: 'Changed' }),
      });
      expect((await json(bases[1], '/api/users/me', { headers: auth })).body.display_name).toBe('Changed');
    });

    it('rate limits are shared between the API processes', async () => {
      const attempt = (base: string) =>
        json(base, '/api/auth/login', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: 'twin', password: 'wrong-password-1' }),
        });
      for (let i = 0; i < 4; i++) expect((await attempt(bases[i % 2])).status).toBe(401);
      const limited = await attempt(bases[0]);
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    });
  },
);
