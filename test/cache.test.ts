import { setTimeout as sleep } from 'node:timers/promises';
import { Test, type TestingModule } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigModule, loadConfig, type AppConfig } from '@echo/config';
import { CacheModule, CacheService } from '@echo/cache';
import { REDIS_URL, uniquePrefix } from './support/services.js';
import { freePort, PrivateRedis } from './support/processes.js';
import { waitFor } from './support/wait.js';

// Set by test/support/global-setup.ts; with REQUIRE_SERVICES=1 a missing Redis fails the run there.
const redisUp = process.env.ECHO_TEST_REDIS === '1';

/** The bound a fail-open cache call must stay under when Redis is away. */
const FAIL_OPEN_MS = 300;

async function cacheModule(
  env: Record<string, string>,
): Promise<{ moduleRef: TestingModule; cache: CacheService; config: AppConfig }> {
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', ...env });
  const moduleRef = await Test.createTestingModule({
    imports: [ConfigModule.forRoot(config), CacheModule.forRoot(config)],
  })
    .setLogger({ log() {}, error() {}, warn() {}, debug() {}, verbose() {} })
    .compile();
  await moduleRef.init();
  return { moduleRef, cache: moduleRef.get(CacheService), config };
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - start };
}

async function deleteNamespace(redis: Redis, namespace: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${namespace}::*`, 'COUNT', 500);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

describe.skipIf(!redisUp)('CacheService on the shared Redis (db 1)', () => {
  const namespace = uniquePrefix('cache');
  let moduleRef: TestingModule;
  let cache: CacheService;
  let config: AppConfig;
  let db1: Redis;
  let db0: Redis;

  beforeAll(async () => {
    // A generous per-command bound: the shared Redis may be busy with other test files.
    ({ moduleRef, cache, config } = await cacheModule({
      REDIS_URL,
      CACHE_NAMESPACE: namespace,
      REDIS_CACHE_DB: '1',
      CACHE_TTL_SECONDS: '120',
      CACHE_COMMAND_TIMEOUT_MS: '1000',
    }));
    db1 = new Redis(REDIS_URL, { db: 1 });
    db0 = new Redis(REDIS_URL, { db: 0 });
    await waitFor(() => cache.ping(), 5000, 'the cache client to connect');
  });

  afterAll(async () => {
    await moduleRef?.close();
    if (db1) {
      await deleteNamespace(db1, namespace);
      db1.disconnect();
    }
    db0?.disconnect();
  });

  it('uses Redis', async () => {
    expect(cache.backend).toBe('redis');
    expect(await cache.ping()).toBe(true);
  });

  it('round-trips values and stores them in db 1 as <namespace>::<key>', async () => {
    const value = { id: 7, name: 'Ada', tags: ['x', 'y'] };
    await cache.set('user:7', value);
    expect(await cache.get('user:7')).toEqual(value);

    const raw = await db1.get(`${namespace}::user:7`);
    expect(raw).not.toBeNull();
    expect(raw).toContain('"Ada"');
    // Not double-prefixed, not in the queue db.
    expect(await db1.exists(`${namespace}::${namespace}::user:7`)).toBe(0);
    expect(await db0.exists(`${namespace}::user:7`)).toBe(0);
    const [, keys] = await db1.scan('0', 'MATCH', `*user:7*`, 'COUNT', 10_000);
    expect(keys.filter((k) => k.includes(namespace))).toEqual([`${namespace}::user:7`]);
  });

  it('keeps a response body as its exact bytes (no envelope), read back as a Buffer, with its TTL; del() removes it', async () => {
    const body = JSON.stringify({ count: 1, results: [{ title: 'café ☕' }] });
    await cache.setBody('uploads:1:v0:body:abc', body, 5_000);
    expect(await db1.get(`${namespace}::uploads:1:v0:body:abc`)).toBe(body);
    const pttl = await db1.pttl(`${namespace}::uploads:1:v0:body:abc`);
    expect(pttl).toBeGreaterThan(4_000);
    const hit = await cache.getBody('uploads:1:v0:body:abc');
    expect(Buffer.isBuffer(hit)).toBe(true);
    expect(hit!.toString('utf8')).toBe(body);
    expect(await cache.getBody('uploads:1:v0:body:missing')).toBeUndefined();
    await cache.del('uploads:1:v0:body:abc');
    expect(await cache.getBody('uploads:1:v0:body:abc')).toBeUndefined();
  });

  it('sets the TTL in milliseconds (configured default and per call)', async () => {
    await cache.set('ttl:default', 'x');
    const pttl = await db1.pttl(`${namespace}::ttl:default`);
    expect(pttl).toBeGreaterThan(config.cache.ttlMs - 5_000);
    expect(pttl).toBeLessThanOrEqual(config.cache.ttlMs);

    await cache.set('ttl:custom', 'x', 5_000);
    const custom = await db1.pttl(`${namespace}::ttl:custom`);
    expect(custom).toBeGreaterThan(4_000);
    expect(custom).toBeLessThanOrEqual(5_000);
  });

  it('expires entries', async () => {
    await cache.set('short:1', 'soon gone', 150);
    expect(await cache.get('short:1')).toBe('soon gone');
    await sleep(400);
    expect(await cache.get('short:1')).toBeUndefined();
    expect(await db1.exists(`${namespace}::short:1`)).toBe(0);
  });

  it('getOrSet calls the loader once, then serves from the cache', async () => {
    let calls = 0;
    const load = async () => {
      calls++;
      return { computed: calls };
    };
    expect(await cache.getOrSet('once:1', load)).toEqual({ computed: 1 });
    expect(await cache.getOrSet('once:1', load)).toEqual({ computed: 1 });
    expect(await cache.getOrSet('once:1', load)).toEqual({ computed: 1 });
    expect(calls).toBe(1);
  });

  it('getOrSet does not store undefined', async () => {
    let calls = 0;
    const load = async () => {
      calls++;
      return undefined;
    };
    await cache.getOrSet('nothing:1', load);
    await cache.getOrSet('nothing:1', load);
    expect(calls).toBe(2);
  });

  it('del removes entries', async () => {
    await cache.set('gone:1', 1);
    await cache.set('gone:2', 2);
    await cache.del('gone:1', 'gone:2');
    expect(await cache.get('gone:1')).toBeUndefined();
    expect(await cache.get('gone:2')).toBeUndefined();
  });

  it('versioned keys: after bump the old entry is not returned', async () => {
    const before = await cache.versioned('photos:u1', 'list:page1');
    await cache.set(before, ['old']);
    expect(await cache.get(await cache.versioned('photos:u1', 'list:page1'))).toEqual(['old']);

    await cache.bump('photos:u1');
    const after = await cache.versioned('photos:u1', 'list:page1');
    expect(after).not.toBe(before);
    expect(await cache.get(after)).toBeUndefined();
    let calls = 0;
    expect(await cache.getOrSet(after, async () => (++calls, ['new']))).toEqual(['new']);
    expect(calls).toBe(1);
    expect(await cache.get(await cache.versioned('photos:u1', 'list:page1'))).toEqual(['new']);
    // Other groups are untouched.
    const other = await cache.versioned('photos:u2', 'list:page1');
    await cache.set(other, ['u2']);
    await cache.bump('photos:u1');
    expect(await cache.get(await cache.versioned('photos:u2', 'list:page1'))).toEqual(['u2']);
  });

  it('counts hits and misses per key namespace', async () => {
    const hits = cache.stats.hits.stats ?? 0;
    const misses = cache.stats.misses.stats ?? 0;
    const errors = cache.stats.errors;
    await cache.get('stats:absent');
    await cache.set('stats:present', 1);
    await cache.get('stats:present');
    await cache.get('stats:present');
    expect(cache.stats.misses.stats).toBe(misses + 1);
    expect(cache.stats.hits.stats).toBe(hits + 2);
    expect(cache.stats.errors).toBe(errors);
  });
});

// Needs no Redis at all: nothing listens on the port.
describe('CacheService with Redis unreachable (fail open)', () => {
  let moduleRef: TestingModule;
  let cache: CacheService;

  beforeAll(async () => {
    const port = await freePort();
    ({ moduleRef, cache } = await cacheModule({
      REDIS_URL: `redis://127.0.0.1:${port}`,
      CACHE_NAMESPACE: uniquePrefix('closed'),
    }));
  });
  afterAll(() => moduleRef?.close());

  it('get misses, getOrSet serves the loader, ping is false — each within the bound', async () => {
    for (let i = 0; i < 5; i++) {
      const get = await timed(() => cache.get(`k:${i}`));
      expect(get.value).toBeUndefined();
      expect(get.ms).toBeLessThan(FAIL_OPEN_MS);

      const loaded = await timed(() => cache.getOrSet(`k:${i}`, async () => `fresh ${i}`));
      expect(loaded.value).toBe(`fresh ${i}`);
      expect(loaded.ms).toBeLessThan(FAIL_OPEN_MS);
    }
    const ping = await timed(() => cache.ping());
    expect(ping.value).toBe(false);
    expect(ping.ms).toBeLessThan(FAIL_OPEN_MS);
    await expect(cache.set('k', 1)).resolves.toBeUndefined();
    await expect(cache.del('k')).resolves.toBeUndefined();
    expect(cache.stats.errors).toBeGreaterThan(0);
  });
});

describe.skipIf(!redisUp)('CacheService when its Redis stops and comes back', () => {
  let redis: PrivateRedis;
  let moduleRef: TestingModule;
  let cache: CacheService;
  let admin: Redis;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    ({ moduleRef, cache } = await cacheModule({
      REDIS_URL: redis.url,
      CACHE_NAMESPACE: 'echo_cache',
      REDIS_CACHE_DB: '1',
    }));
    admin = new Redis({
      port: redis.port,
      host: '127.0.0.1',
      db: 1,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    admin.on('error', () => undefined);
    await waitFor(() => cache.ping(), 5000, 'the cache client to connect');
  });

  afterAll(async () => {
    admin?.disconnect();
    await moduleRef?.close();
    await redis?.stop();
  });

  it('caches, fails open while Redis is down, and caches again once it is back', async () => {
    let calls = 0;
    const load = async () => ++calls;

    expect(await cache.getOrSet('item:1', load)).toBe(1);
    expect(await cache.getOrSet('item:1', load)).toBe(1);
    expect(calls).toBe(1);
    await admin.connect();
    expect(await admin.exists('echo_cache::item:1')).toBe(1);
    admin.disconnect();

    await redis.stop();

    // Down: every call answers from the loader, quickly.
    for (let i = 0; i < 5; i++) {
      const got = await timed(() => cache.getOrSet('item:1', load));
      expect(got.value).toBe(calls);
      expect(got.ms).toBeLessThan(FAIL_OPEN_MS);
    }
    expect(calls).toBe(6);
    const ping = await timed(() => cache.ping());
    expect(ping.value).toBe(false);
    expect(ping.ms).toBeLessThan(FAIL_OPEN_MS);

    // Back (empty: nothing persisted): the client reconnects by itself and caching resumes.
    await redis.start();
    await waitFor(() => cache.ping(), 10_000, 'the cache client to reconnect');
    const first = await cache.getOrSet('item:1', load);
    expect(first).toBe(7);
    expect(await cache.getOrSet('item:1', load)).toBe(7);
    expect(await cache.get('item:1')).toBe(7);
    expect(calls).toBe(7);
  });
});

describe.skipIf(!redisUp)('CacheService single flight', () => {
  it('concurrent getOrSet calls for one key share one load', async () => {
    const { moduleRef, cache } = await cacheModule({ REDIS_URL, CACHE_NAMESPACE: uniquePrefix('flight') });
    try {
      let loads = 0;
      const load = async () => {
        loads++;
        await sleep(30);
        return { value: 42 };
      };
      const results = await Promise.all(Array.from({ length: 50 }, () => cache.getOrSet('hot:1', load)));
      expect(loads).toBe(1);
      expect(results.every((r) => r.value === 42)).toBe(true);
      expect(await cache.getOrSet('hot:1', load)).toEqual({ value: 42 }); // now from Redis
      expect(loads).toBe(1);
    } finally {
      await moduleRef.close();
    }
  });
  // CACHE_ENABLED=false measures the database path: merged loads would hide its cost (a bench of
  // one user's page at 50 connections read 1.03 statements per request instead of 2).
  it('with CACHE_ENABLED=false every call runs its own load', async () => {
    const { moduleRef, cache } = await cacheModule({
      REDIS_URL,
      CACHE_NAMESPACE: uniquePrefix('flight-off'),
      CACHE_ENABLED: 'false',
    });
    try {
      let loads = 0;
      const load = async () => {
        loads++;
        await sleep(20);
        return 1;
      };
      await Promise.all(Array.from({ length: 10 }, () => cache.getOrSet('hot:1', load)));
      expect(loads).toBe(10);
    } finally {
      await moduleRef.close();
    }
  });
});
