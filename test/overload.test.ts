import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mysql from 'mysql2/promise';
import { MYSQL_URL_BASE } from './support/services.js';
import { servicesUp, startStack, type TestStack } from './support/app.js';
import { register, type Session } from './support/users.js';

/**
 * The overload drill in small (bench/overload.js is the full one): one pool connection, a wait
 * queue of two, the cache off so every request needs the database, and the uploads table locked
 * by another connection, so the database is "slow" for as long as the test says.
 */
describe.skipIf(!servicesUp())('overload: a slow database turns into quick 503s, then recovers', () => {
  const WAIT_MS = 1500;
  let stack: TestStack;
  let user: Session;
  let locker: mysql.Connection;
  let dbName: string;

  beforeAll(async () => {
    stack = await startStack('overload', {
      DB_POOL_SIZE: '1',
      DB_POOL_QUEUE_LIMIT: '2',
      DB_POOL_WAIT_TIMEOUT_MS: String(WAIT_MS),
      CACHE_ENABLED: 'false',
    });
    user = await register(stack.api, 'over');
    dbName = new URL(stack.config.database.url!).pathname.slice(1);
    locker = await mysql.createConnection({ uri: `${MYSQL_URL_BASE}/${dbName}` });
  });
  afterAll(async () => {
    await locker?.end();
    await stack?.close();
  });

  /** `n` concurrent list requests; each resolves with its status, headers, body and when it ended. */
  function burst(n: number, started: number) {
    return Promise.all(
      Array.from({ length: n }, async () => {
        const res = await stack.api.inject({ method: 'GET', url: '/api/uploads', headers: user.auth });
        return { status: res.statusCode, headers: res.headers, body: res.body, at: Date.now() - started };
      }),
    );
  }

  function expectShed(res: { status: number; headers: Record<string, unknown>; body: string }) {
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(JSON.parse(res.body)).toEqual({ detail: 'Service temporarily unavailable, try again later.' });
  }

  it('requests beyond pool + queue get 503 + Retry-After at once; the rest complete once the database is fast again', async () => {
    expect((await stack.api.inject({ method: 'GET', url: '/api/uploads', headers: user.auth })).statusCode).toBe(200);
    await locker.query('LOCK TABLES uploads WRITE');
    const started = Date.now();
    const RELEASE_AT = 800; // below WAIT_MS: the queued requests are still waiting, not timed out
    const results = burst(10, started);
    setTimeout(() => void locker.query('UNLOCK TABLES'), RELEASE_AT);
    const all = await results;

    const shed = all.filter((r) => r.status !== 200);
    const served = all.filter((r) => r.status === 200);
    // One connection + two waiters: at most three are served; the excess is refused, never a 500.
    expect(shed.length).toBeGreaterThanOrEqual(7);
    expect(served.length).toBeGreaterThanOrEqual(1);
    for (const res of shed) {
      expectShed(res);
      expect(res.at).toBeLessThan(RELEASE_AT); // quick: answered while the database was still stuck
    }
    for (const res of served) expect(res.at).toBeGreaterThanOrEqual(RELEASE_AT - 50);

    // Recovered by itself: later requests are 200.
    const later = await burst(3, Date.now());
    expect(later.map((r) => r.status)).toEqual([200, 200, 200]);
  });

  it('a request waits at most DB_POOL_WAIT_TIMEOUT_MS for a connection, then gets 503 + Retry-After', async () => {
    await locker.query('LOCK TABLES uploads WRITE');
    const started = Date.now();
    const RELEASE_AT = WAIT_MS * 2;
    const results = burst(3, started); // 1 on the connection + 2 queued: nothing refused for the queue limit
    setTimeout(() => void locker.query('UNLOCK TABLES'), RELEASE_AT);
    // For a second after a wait timed out (checked every 250 ms), a newcomer is refused at the
    // door at once.
    await new Promise((resolve) => setTimeout(resolve, WAIT_MS + 400));
    const late = Date.now();
    const newcomer = await burst(1, late);
    expectShed(newcomer[0]);
    expect(newcomer[0].at).toBeLessThan(WAIT_MS * 0.3);
    const all = await results;

    const shed = all.filter((r) => r.status !== 200);
    expect(shed.length).toBeGreaterThanOrEqual(1);
    for (const res of shed) {
      expectShed(res);
      // Not before the bound, and well before the database came back.
      expect(res.at).toBeGreaterThanOrEqual(WAIT_MS - 50);
      expect(res.at).toBeLessThan(RELEASE_AT);
    }
    expect(all.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(1);
    const later = await burst(3, Date.now());
    expect(later.map((r) => r.status)).toEqual([200, 200, 200]);
  });
});
