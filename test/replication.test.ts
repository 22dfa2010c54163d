/**
 * Read replicas (DB_REPLICA_URLS) on a private primary/replica pair of mariadbd instances started
 * for this file. The replica is reached with a SELECT-only account and runs read_only, so any
 * write routed to it would fail. Stopping the replica's SQL thread freezes its data: what a
 * request then shows tells which server answered it.
 */
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type AppConfig } from '@echo/config';
import { buildDataSourceOptions, isDatabaseUnavailable, mysqlPools } from '@echo/database';
import { AnalysisRunner } from '@echo/visual-analysis';
import { createApiApp } from '../apps/api/src/create-api-app.js';
import { runMigrations } from './support/app.js';
import { mariadbInstalled, startMariadbPair, type MariadbPair } from './support/mariadb-pair.js';
import { REDIS_URL, REQUIRE_SERVICES, uniquePrefix } from './support/services.js';
import { register, registerAdmin, PASSWORD, type Session } from './support/users.js';
import { multipart, noisePng } from './support/images.js';
import { waitFor } from './support/wait.js';

const DB = 'echo_test_replication';
const READER = { user: 'echo_reader', password: 'reader-pass' };
// With REQUIRE_SERVICES=1 a missing mariadbd fails (in startMariadbPair) instead of skipping.
const runnable = (mariadbInstalled() || REQUIRE_SERVICES) && process.env.ECHO_TEST_REDIS === '1';

describe.skipIf(!runnable)('read replicas (primary + replica mariadbd pair)', () => {
  let pair: MariadbPair;
  let env: Record<string, string>;
  let config: AppConfig;
  let api: NestFastifyApplication;
  let admin: Session;

  const get = (s: Session, url: string) => api.inject({ method: 'GET', url, headers: s.auth });
  const adminSearch = async (username: string) => {
    const res = await get(admin, `/api/admin/users?search=${username}`);
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { count: number; results: { id: number; username: string; display_name: string }[] };
  };
  const upload = (s: Session, data: Buffer) => {
    const form = multipart([{ name: 'file', filename: 'noise.png', contentType: 'image/png', data }]);
    return api.inject({
      method: 'POST',
      url: '/api/uploads',
      headers: { ...s.auth, ...form.headers },
      payload: form.payload,
    });
  };
  const onServer = async (server: 'primary' | 'replica', sql: string, params: unknown[] = []) =>
    pair.sql<Record<string, unknown>>(pair[server], sql, params);

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    pair = await startMariadbPair();
    console.info(
      `mariadb pair replicating after ${pair.startupMs} ms (primary :${pair.primary.port}, replica :${pair.replica.port})`,
    );
    // Made on the primary, replicated: the database and a SELECT-only account for the replica side.
    await onServer('primary', `CREATE DATABASE ${DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await onServer('primary', `CREATE USER '${READER.user}'@'127.0.0.1' IDENTIFIED BY '${READER.password}'`);
    await onServer('primary', `GRANT SELECT ON ${DB}.* TO '${READER.user}'@'127.0.0.1'`);
    await pair.sync();

    const prefix = uniquePrefix('replication');
    env = {
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATABASE_URL: `${pair.primary.url}/${DB}`,
      DB_REPLICA_URLS: `mysql://${READER.user}:${READER.password}@127.0.0.1:${pair.replica.port}/${DB}`,
      REDIS_URL,
      CACHE_NAMESPACE: prefix,
      QUEUE_PREFIX: prefix,
      STORAGE_DIR: `.data/test-storage/${prefix}`,
      THROTTLE_AUTH_LIMIT: '1000',
    };
    config = loadConfig(env);
    await runMigrations(config); // with the replication options: migrations take the primary
    api = await createApiApp(config, { logger: false });
    await api.init();
    await api.getHttpAdapter().getInstance().ready();
    admin = await registerAdmin(api);
    await pair.sync();
  }, 120_000);

  afterAll(async () => {
    await api?.close();
    await pair?.stop();
  }, 60_000);

  it('writes land on the primary and replicate; the replica holds the schema but takes no writes', async () => {
    const alice = await register(api, 'alice');
    expect(await onServer('primary', `SELECT username FROM ${DB}.users WHERE id = ?`, [alice.id])).toEqual([
      { username: alice.username },
    ]);
    await pair.sync();
    expect(await onServer('replica', `SELECT username FROM ${DB}.users WHERE id = ?`, [alice.id])).toEqual([
      { username: alice.username },
    ]);
    expect((await onServer('replica', `SELECT COUNT(*) AS n FROM ${DB}.migrations`))[0].n).toBeGreaterThan(0);
    // The app's replica account could not write even if it tried, and the replica is read_only.
    expect(await onServer('replica', `SHOW GRANTS FOR '${READER.user}'@'127.0.0.1'`)).toContainEqual({
      [`Grants for ${READER.user}@127.0.0.1`]: `GRANT SELECT ON \`${DB}\`.* TO \`${READER.user}\`@\`127.0.0.1\``,
    });
    expect((await onServer('replica', 'SELECT @@read_only AS ro'))[0].ro).toBe(1);
  });

  it('lists and details come from the replica, read-your-own-write paths from the primary', async () => {
    const bob = await register(api, 'bob');
    const bobsUpload = await upload(bob, await noisePng(24, 24));
    expect(bobsUpload.statusCode).toBe(201);
    await pair.sync();

    // The replica serves the admin list (its SELECT counter moves).
    const selects = await pair.replicaSelects();
    expect((await adminSearch(bob.username)).count).toBe(1);
    expect(await pair.replicaSelects()).toBeGreaterThan(selects);

    let carol: Session;
    await pair.stopReplicaSql();
    try {
      // --- a user registered now exists on the primary only ---
      carol = await register(api, 'carol');
      expect((await adminSearch(carol.username)).count).toBe(0); // list: replica, stale

      // the auth guard's cached profile is filled from the primary
      const me = await get(carol, '/api/users/me');
      expect(me.statusCode, me.body).toBe(200);
      expect(me.json()).toMatchObject({ id: carol.id, username: carol.username });
      // login and refresh-token rotation right after registering
      const login = await api.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username: carol.username, password: PASSWORD },
      });
      expect(login.statusCode, login.body).toBe(200);
      const refreshed = await api.inject({
        method: 'POST',
        url: '/api/auth/refresh',
        payload: { refresh: login.json().refresh },
      });
      expect(refreshed.statusCode, refreshed.body).toBe(200);
      const again = await api.inject({
        method: 'POST',
        url: '/api/auth/refresh',
        payload: { refresh: refreshed.json().refresh },
      });
      expect(again.statusCode, again.body).toBe(200);
      // a used refresh token is seen as used at once (the primary knows; the replica does not)
      const reused = await api.inject({
        method: 'POST',
        url: '/api/auth/refresh',
        payload: { refresh: login.json().refresh },
      });
      expect(reused.statusCode).toBe(401);
      // the re-read after an update, and the next request's profile
      const patch = await api.inject({
        method: 'PATCH',
        url: '/api/users/me',
        headers: carol.auth,
        payload: { display_name: 'Carol C' },
      });
      expect(patch.statusCode, patch.body).toBe(200);
      expect(patch.json().display_name).toBe('Carol C');
      expect((await get(carol, '/api/users/me')).json().display_name).toBe('Carol C');

      // --- a user the replica knows, changed now ---
      await api.inject({
        method: 'PATCH',
        url: '/api/users/me',
        headers: bob.auth,
        payload: { display_name: 'Bobby' },
      });
      expect((await get(bob, '/api/users/me')).json().display_name).toBe('Bobby'); // own profile: primary
      expect((await get(admin, `/api/admin/users/${bob.id}`)).json().display_name).toBe(''); // admin detail: replica, stale
      expect((await adminSearch(bob.username)).results[0].display_name).toBe('');
      // an admin detail the replica does not have yet is looked up on the primary rather than 404
      expect((await get(admin, `/api/admin/users/${carol.id}`)).json()).toMatchObject({
        id: carol.id,
        display_name: 'Carol C',
      });
      expect((await get(admin, '/api/admin/users/999999')).statusCode).toBe(404);

      // --- an upload now: its response, the duplicate check, its detail and re-analysis ---
      const png = await noisePng(32, 32);
      const created = await upload(carol, png);
      expect(created.statusCode, created.body).toBe(201);
      const { id: uploadId, analysis } = created.json() as {
        id: string;
        analysis: { id: string; status: string } | null;
      };
      expect(analysis).toMatchObject({ status: 'queued' }); // read back on the primary, in the same request
      const duplicate = await upload(carol, png);
      expect(duplicate.statusCode).toBe(200);
      expect(duplicate.json()).toMatchObject({ id: uploadId, duplicate: true });

      // deleting an upload made a moment ago
      const other = await upload(carol, await noisePng(16, 16));
      expect(other.statusCode).toBe(201);
      expect(
        (await api.inject({ method: 'DELETE', url: `/api/uploads/${other.json().id}`, headers: carol.auth }))
          .statusCode,
      ).toBe(204);
      expect((await get(carol, `/api/uploads/${other.json().id}`)).statusCode).toBe(404);

      expect((await get(carol, '/api/uploads')).json().count).toBe(0); // list: replica
      expect((await get(carol, `/api/uploads/${uploadId}`)).statusCode).toBe(200); // detail: replica miss → primary
      expect((await get(carol, `/api/uploads/${uploadId}/file`)).statusCode).toBe(200);
      const reanalyze = await api.inject({
        method: 'POST',
        url: '/api/visual-analysis',
        headers: carol.auth,
        payload: { upload_id: uploadId },
      });
      expect(reanalyze.statusCode, reanalyze.body).toBe(202);
      expect(reanalyze.json()).toMatchObject({ id: analysis!.id, status: 'queued' }); // the pending one, found on the primary

      expect((await get(carol, '/api/visual-analysis')).json().count).toBe(0); // list: replica
      expect((await get(carol, `/api/visual-analysis/${analysis!.id}`)).json()).toMatchObject({ status: 'queued' });
      // The worker's job body reads the row the API just committed: on the primary.
      expect(await api.get(AnalysisRunner).run(analysis!.id, { attempt: 1, final: true })).toBe('completed');
      expect((await get(carol, `/api/visual-analysis/${analysis!.id}`)).json()).toMatchObject({ status: 'completed' });
      expect((await get(bob, '/api/uploads')).json().count).toBe(1);
    } finally {
      await pair.startReplicaSql();
    }

    // --- the replica catches up: the lists show it all ---
    await pair.sync();
    expect((await adminSearch(bob.username)).results[0].display_name).toBe('Bobby');
    expect((await adminSearch(carol.username)).results).toMatchObject([{ id: carol.id, display_name: 'Carol C' }]);
    expect((await get(carol, '/api/uploads')).json().count).toBe(1);
    expect((await get(carol, '/api/visual-analysis')).json().results).toMatchObject([{ status: 'completed' }]);
  });

  it('a replica connection killed on the server does not fail the next read (pool eviction or the read retry)', async () => {
    expect((await adminSearch(admin.username)).count).toBe(1); // the replica pool holds a connection now
    const conns = await onServer('replica', `SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ?`, [
      READER.user,
    ]);
    expect(conns.length).toBeGreaterThan(0);
    for (const { id } of conns) await onServer('replica', `KILL ${Number(id)}`);
    expect((await adminSearch(admin.username)).count).toBe(1);
  });

  it('replica down: reads go to the primary at once; back up, reads return to the replica', async () => {
    await pair.killReplica();
    const dave = await register(api, 'dave'); // written on the primary only
    const started = Date.now();
    const first = await adminSearch(dave.username); // answered from the primary (fresher than any replica)
    expect(first.count).toBe(1);
    for (let i = 0; i < 5; i++) expect((await adminSearch(dave.username)).count).toBe(1);
    expect(Date.now() - started).toBeLessThan(3_000);
    const me = await get(dave, '/api/users/me');
    expect(me.statusCode).toBe(200);

    await pair.restartReplica();
    await pair.sync(20_000);
    // Freeze the replica again: a new user invisible to the list means the replica answers again
    // (the pool cluster retries an offline replica after restoreNodeTimeout, 5 s).
    await pair.stopReplicaSql();
    try {
      const erin = await register(api, 'erin');
      await waitFor(
        async () => (await adminSearch(erin.username)).count === 0,
        15_000,
        'reads to return to the replica',
      );
    } finally {
      await pair.startReplicaSql();
    }
  }, 60_000);

  it('a full wait queue on the primary is a 503 for those requests only, not an outage of the primary', async () => {
    // TypeORM puts the primary in mysql2's PoolCluster, which would take a node offline for
    // restoreNodeTimeout after a failed getConnection (a full queue counts): Echo takes the primary
    // from its pool directly, as without replicas.
    const ds = new DataSource(
      buildDataSourceOptions(loadConfig({ ...env, DB_POOL_SIZE: '1', DB_POOL_QUEUE_LIMIT: '1' })),
    );
    await ds.initialize();
    try {
      expect(mysqlPools(ds).map((p) => p.node)).toEqual(['MASTER', 'SLAVE0']);
      const results = await Promise.allSettled(Array.from({ length: 6 }, () => ds.query('SELECT SLEEP(0.2) AS s')));
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(rejected.length).toBeGreaterThan(0);
      expect(rejected.every((r) => isDatabaseUnavailable(r.reason))).toBe(true);
      expect(await ds.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await ds.destroy();
    }
  });
});
