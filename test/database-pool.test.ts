import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Controller, Get, Logger, Module } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import mysql from 'mysql2/promise';
import { Column, DataSource, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigModule, loadConfig, type AppConfig } from '@echo/config';
import {
  assertPoolShape,
  assertReadRetryShape,
  buildDataSourceOptions,
  DatabaseModule,
  installReadRetry,
  isConnectionLost,
  isDatabaseUnavailable,
  LibraryShapeError,
  mysqlPool,
} from '@echo/database';
import { DrfExceptionFilter, toDrfError } from '@echo/http';
import { createTestDatabase, MYSQL_URL_BASE } from './support/services.js';

// Set by test/support/global-setup.ts; with REQUIRE_SERVICES=1 a missing MariaDB fails the run there.
const mysqlUp = process.env.ECHO_TEST_MYSQL === '1';

@Entity('pool_things')
class PoolThing {
  @PrimaryGeneratedColumn({ type: 'int' })
  id: number;

  @Column({ type: 'varchar', length: 32 })
  name: string;
}

const UNAVAILABLE = { detail: 'Service temporarily unavailable, try again later.' };

describe.skipIf(!mysqlUp)('MySQL pool (mysql2 under TypeORM) on MariaDB', () => {
  let db: { name: string; url: string; drop: () => Promise<void> };
  let admin: mysql.Connection;
  const open: DataSource[] = [];

  function configFor(env: Record<string, string>): AppConfig {
    return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: db.url, DB_SLOW_QUERY_MS: '0', ...env });
  }

  async function dataSource(env: Record<string, string>): Promise<DataSource> {
    const ds = new DataSource(buildDataSourceOptions(configFor(env), [PoolThing]));
    await ds.initialize();
    open.push(ds);
    return ds;
  }

  /** Server-side connections of this test database (the admin connection has no default db). */
  async function serverConnections(): Promise<number[]> {
    const [rows] = await admin.query('SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ?', [db.name]);
    return (rows as { id: number }[]).map((r) => Number(r.id));
  }

  beforeAll(async () => {
    // The slow-query logger reports each killed read's first attempt at debug level: keep the output quiet.
    Logger.overrideLogger(['error', 'warn']);
    db = await createTestDatabase('pool');
    admin = await mysql.createConnection({ uri: MYSQL_URL_BASE });
    await admin.query(
      `CREATE TABLE \`${db.name}\`.pool_things (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(32) NOT NULL)`,
    );
    await admin.query(`INSERT INTO \`${db.name}\`.pool_things (name) VALUES ('a'), ('b'), ('c')`);
  });

  afterEach(async () => {
    while (open.length)
      await open
        .pop()!
        .destroy()
        .catch(() => undefined);
  });

  afterAll(async () => {
    await admin?.end();
    await db?.drop();
  });

  it('the mysql2 and typeorm internals Echo reads are where it expects them (checked at every start-up)', async () => {
    const ds = await dataSource({});
    expect(() => assertPoolShape(ds)).not.toThrow();
    await expect(assertReadRetryShape(ds)).resolves.toBeUndefined();
    // The check is real: a pool whose private queue moved fails start-up with the version named.
    const pool = mysqlPool(ds)! as unknown as Record<string, unknown>;
    const queue = pool._connectionQueue;
    delete pool._connectionQueue;
    try {
      expect(() => assertPoolShape(ds)).toThrow(LibraryShapeError);
      expect(() => assertPoolShape(ds)).toThrow(/^mysql2 \d+\.\d+\.\d+: Pool \(MASTER\)\._connectionQueue is missing/);
    } finally {
      pool._connectionQueue = queue;
    }
  });

  it('200 concurrent queries never hold more server connections than DB_POOL_SIZE', async () => {
    const ds = await dataSource({ DB_POOL_SIZE: '5' });
    const pool = mysqlPool(ds)!;
    expect(pool.config.connectionLimit).toBe(5);

    let done = false;
    let peakServer = 0;
    let peakPool = 0;
    let samples = 0;
    const sampler = (async () => {
      while (!done) {
        peakServer = Math.max(peakServer, (await serverConnections()).length);
        peakPool = Math.max(peakPool, pool._allConnections.length);
        samples++;
        await sleep(5);
      }
    })();

    const started = Date.now();
    const results = await Promise.all(Array.from({ length: 200 }, () => ds.query('SELECT SLEEP(0.02) AS slept')));
    const elapsed = Date.now() - started;
    done = true;
    await sampler;

    expect(results).toHaveLength(200);
    expect(results.every((r) => Number((r as { slept: number }[])[0].slept) === 0)).toBe(true);
    expect(samples).toBeGreaterThan(5);
    // The cap holds, and the queries really did run in parallel on several connections.
    expect(peakServer).toBeLessThanOrEqual(5);
    expect(peakPool).toBeLessThanOrEqual(5);
    expect(peakServer).toBeGreaterThanOrEqual(2);
    // 200 × 20 ms on 5 connections ≥ 800 ms: they queued rather than opening more connections.
    expect(elapsed).toBeGreaterThanOrEqual(750);
    expect((await serverConnections()).length).toBeLessThanOrEqual(5);
  });

  it("gives each pooled connection a small prepared-statement cache (mysql2's 16,000 default costs ~0.5 MB each) and no per-query stack capture", async () => {
    const ds = await dataSource({ DB_POOL_SIZE: '3' });
    await Promise.all(Array.from({ length: 6 }, () => ds.query('SELECT SLEEP(0.01)')));
    const connections = (mysqlPool(ds)!._allConnections as unknown as { toArray(): { config: object }[] }).toArray();
    expect(connections.length).toBeGreaterThanOrEqual(2);
    for (const connection of connections)
      expect(connection.config).toMatchObject({ maxPreparedStatements: 16, trace: false });
  });

  it('a full wait queue rejects the excess at once with an error mapped to 503 + Retry-After', async () => {
    const ds = await dataSource({ DB_POOL_SIZE: '1', DB_POOL_QUEUE_LIMIT: '2' });
    const settled = await Promise.allSettled(Array.from({ length: 10 }, () => ds.query('SELECT SLEEP(0.1) AS slept')));
    const rejected = settled
      .filter((s): s is PromiseRejectedResult => s.status === 'rejected')
      .map((s) => s.reason as unknown);
    // 1 running + 2 waiting; the other 7 are refused.
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(3);
    expect(rejected).toHaveLength(7);
    for (const err of rejected) {
      expect((err as Error).message).toBe('Queue limit reached.');
      expect(isDatabaseUnavailable(err)).toBe(true);
      expect(toDrfError(err)).toEqual({
        status: 503,
        body: UNAVAILABLE,
        headers: { 'retry-after': '1' },
        unexpected: false,
      });
    }
    expect(isDatabaseUnavailable(new Error('Duplicate entry'))).toBe(false);
  });

  describe('through HTTP (DatabaseModule + DrfExceptionFilter)', () => {
    let app: NestFastifyApplication;
    let ds: DataSource;

    beforeAll(async () => {
      const config = configFor({
        DB_POOL_SIZE: '1',
        DB_POOL_QUEUE_LIMIT: '2',
        DB_IDLE_TIMEOUT_MS: String(10 * 365 * 24 * 3600 * 1000),
      });

      @Controller('slow')
      class SlowController {
        constructor(private readonly dataSource: DataSource) {}
        @Get()
        async slow() {
          await this.dataSource.query('SELECT SLEEP(0.2)');
          return { ok: true };
        }
      }
      @Module({
        imports: [ConfigModule.forRoot(config), DatabaseModule.forRoot(config)],
        controllers: [SlowController],
      })
      class PoolHttpModule {}

      const moduleRef = await Test.createTestingModule({ imports: [PoolHttpModule] }).compile();
      app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter({ logger: false }), {
        logger: false,
      });
      app.setGlobalPrefix('api');
      app.useGlobalFilters(new DrfExceptionFilter());
      await app.init();
      await app.getHttpAdapter().getInstance().ready();
      ds = app.get(DataSource);
    });

    afterAll(() => app?.close());

    it('answers the requests beyond pool + queue with 503 {"detail"} and Retry-After', async () => {
      const responses = await Promise.all(
        Array.from({ length: 10 }, () => app.inject({ method: 'GET', url: '/api/slow' })),
      );
      const ok = responses.filter((r) => r.statusCode === 200);
      const unavailable = responses.filter((r) => r.statusCode === 503);
      expect(ok).toHaveLength(3);
      expect(unavailable).toHaveLength(7);
      for (const res of unavailable) {
        expect(res.json()).toEqual(UNAVAILABLE);
        expect(res.headers['retry-after']).toBe('1');
      }
      // And once the burst is over the route works again.
      expect((await app.inject({ method: 'GET', url: '/api/slow' })).statusCode).toBe(200);
    });

    it('keeps idle connections below the server wait_timeout (DatabaseModule clamps DB_IDLE_TIMEOUT_MS)', async () => {
      const [row] = (await ds.query('SELECT @@wait_timeout AS wait_timeout')) as { wait_timeout: number }[];
      const expected = Math.max(1000, (Number(row.wait_timeout) - 30) * 1000);
      expect(mysqlPool(ds)!.config.idleTimeout).toBe(expected);
      expect(mysqlPool(ds)!.config.idleTimeout).toBeLessThan(Number(row.wait_timeout) * 1000);
    });
  });

  it('leaves a DB_IDLE_TIMEOUT_MS below wait_timeout alone', async () => {
    const config = configFor({ DB_POOL_SIZE: '2', DB_IDLE_TIMEOUT_MS: '60000' });
    const moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forRoot(config), DatabaseModule.forRoot(config)],
    })
      .setLogger({ log() {}, error() {}, warn() {}, debug() {}, verbose() {} })
      .compile();
    await moduleRef.init();
    try {
      const pool = mysqlPool(moduleRef.get(DataSource))!;
      expect(pool.config.idleTimeout).toBe(60_000);
      expect(pool.config.connectionLimit).toBe(2);
    } finally {
      await moduleRef.close();
    }
  });

  describe('connections killed by the server (read retry)', () => {
    beforeAll(() => installReadRetry());

    /** Opens `n` pool connections at once, so the pool holds that many idle ones. */
    async function warm(ds: DataSource, n: number): Promise<void> {
      await Promise.all(Array.from({ length: n }, () => ds.query('SELECT SLEEP(0.05)')));
      expect(mysqlPool(ds)!._freeConnections.length).toBe(n);
      expect(await serverConnections()).toHaveLength(n);
    }

    /**
     * KILLs every connection of the test database with the mariadb client run synchronously:
     * the event loop is blocked meanwhile, so the pool has not yet seen the sockets close when the
     * next query picks one of them — the stale-connection case of node-mysql2#683/#836.
     */
    function killAllSync(ids: number[]): void {
      expect(ids.length).toBeGreaterThan(0);
      execFileSync('mariadb', ['-uroot', '-h127.0.0.1', '-e', ids.map((id) => `KILL ${id};`).join(' ')], {
        stdio: 'pipe',
      });
    }

    async function killAll(): Promise<number> {
      const ids = await serverConnections();
      for (const id of ids) await admin.query(`KILL ${id}`);
      return ids.length;
    }

    it('the scenario is real: without the retry a query on a killed pooled connection fails', async () => {
      const ds = await dataSource({ DB_POOL_SIZE: '1' });
      await warm(ds, 1);
      const pool = (ds.driver as unknown as { pool: { query(sql: string, cb: (err: unknown) => void): void } }).pool;
      killAllSync(await serverConnections());
      // mysql2's own pool.query: no TypeORM, no retry.
      const err = await new Promise<unknown>((resolve) => pool.query('SELECT 1', (e) => resolve(e)));
      expect(err).toBeTruthy();
      expect(isConnectionLost(err)).toBe(true);
    });

    it('a SELECT after KILLing the only pool connection succeeds (DataSource.query)', async () => {
      const ds = await dataSource({ DB_POOL_SIZE: '1' });
      await warm(ds, 1);
      killAllSync(await serverConnections());
      expect(await ds.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    });

    it('reads after KILLing every pool connection succeed: query, repository, query builder', async () => {
      const ds = await dataSource({ DB_POOL_SIZE: '5' });

      await warm(ds, 5);
      killAllSync(await serverConnections());
      expect(await ds.query('SELECT COUNT(*) AS n FROM pool_things')).toEqual([{ n: 3 }]);

      await warm(ds, 5);
      killAllSync(await serverConnections());
      expect((await ds.getRepository(PoolThing).find({ order: { id: 'ASC' } })).map((t) => t.name)).toEqual([
        'a',
        'b',
        'c',
      ]);

      await warm(ds, 5);
      killAllSync(await serverConnections());
      const qb = ds
        .getRepository(PoolThing)
        .createQueryBuilder('t')
        .where('t.name IN (:...names)', { names: ['b', 'c'] })
        .orderBy('t.id', 'DESC');
      expect((await qb.getMany()).map((t) => t.name)).toEqual(['c', 'b']);

      // KILLed from an ordinary (async) connection as well.
      await warm(ds, 5);
      expect(await killAll()).toBe(5);
      expect(await ds.getRepository(PoolThing).count()).toBe(3);
    });

    it('never retries a write on a killed connection', async () => {
      const ds = await dataSource({ DB_POOL_SIZE: '1' });
      await warm(ds, 1);
      killAllSync(await serverConnections());
      const err = await ds.query(`INSERT INTO pool_things (name) VALUES ('d')`).catch((e: unknown) => e);
      expect(isConnectionLost(err)).toBe(true);
      expect(isDatabaseUnavailable(err)).toBe(true);
      expect(await ds.getRepository(PoolThing).count()).toBe(3);
    });
  });

  it('logs a query slower than DB_SLOW_QUERY_MS with its SQL and duration, and counts every statement', async () => {
    const { dbQueriesSent } = await import('@echo/database');
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      // A threshold far above what SELECT 1 takes even on a busy box (20 ms was crossed under load).
      const ds = await dataSource({ DB_SLOW_QUERY_MS: '250' });
      const before = dbQueriesSent();
      await ds.query('SELECT 1');
      expect(warn).not.toHaveBeenCalledWith(expect.objectContaining({ msg: 'slow query' }));
      await ds.query('SELECT SLEEP(0.4) AS slept');
      expect(warn).toHaveBeenCalledWith(
        expect.objectContaining({
          msg: 'slow query',
          sql: 'SELECT SLEEP(0.4) AS slept',
          duration_ms: expect.any(Number),
        }),
      );
      const call = warn.mock.calls.find(([m]) => (m as { msg?: string }).msg === 'slow query')![0] as {
        duration_ms: number;
      };
      expect(call.duration_ms).toBeGreaterThanOrEqual(395);
      expect(dbQueriesSent() - before).toBe(2);
    } finally {
      warn.mockRestore();
    }
  });
});
