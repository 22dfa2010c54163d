import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './app-config.js';

const base = { JWT_SECRET: 'x'.repeat(40) };
const load = (env: Record<string, string>) => loadConfig({ ...base, ...env });

function problems(env: Record<string, string>): string {
  try {
    load(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`loadConfig(${JSON.stringify(env)}) did not throw`);
}

describe('Redis topologies (config)', () => {
  it('no Redis variable: embedded, no topology', () => {
    const config = load({});
    expect(config.embeddedRedis).toBe(true);
    expect(config.redis.queue).toBeUndefined();
    expect(config.redis.cache).toBeUndefined();
  });

  it('REDIS_URL works as before: the queue on REDIS_QUEUE_DB, the cache on the same server, REDIS_CACHE_DB', () => {
    const config = load({ REDIS_URL: 'rediss://u:p%40ss@r.example:6380', REDIS_QUEUE_DB: '2', REDIS_CACHE_DB: '3' });
    expect(config.embeddedRedis).toBe(false);
    expect(config.redis.url).toBe('rediss://u:p%40ss@r.example:6380');
    expect(config.redis.queue).toEqual({ kind: 'single', url: 'rediss://u:p%40ss@r.example:6380', db: 2 });
    expect(config.redis.cache).toEqual({ kind: 'single', url: 'rediss://u:p%40ss@r.example:6380', db: 3 });
  });

  it('Sentinel: sentinels, name, sentinel password, data-node credentials and TLS', () => {
    const config = load({
      REDIS_SENTINELS: 's1:26379, s2:26380,[::1]:26381',
      REDIS_SENTINEL_NAME: 'echo',
      REDIS_SENTINEL_PASSWORD: 'spw',
      REDIS_USERNAME: 'app',
      REDIS_PASSWORD: 'pw',
      REDIS_TLS: 'true',
    });
    expect(config.embeddedRedis).toBe(false);
    expect(config.redis.queue).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      name: 'echo',
      sentinelPassword: 'spw',
      username: 'app',
      password: 'pw',
      tls: true,
      db: 0,
    });
    expect(config.redis.cache).toMatchObject({ kind: 'sentinel', name: 'echo', db: 1 });
  });

  it('Cluster: seed nodes, no db; the cache shares it by key prefix', () => {
    const config = load({ REDIS_CLUSTER_NODES: 'n1:7000,n2:7001', REDIS_PASSWORD: 'pw' });
    expect(config.redis.queue).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'n1', port: 7000 },
        { host: 'n2', port: 7001 },
      ],
      username: undefined,
      password: 'pw',
      tls: false,
    });
    expect(config.redis.cache).toEqual(config.redis.queue);
  });

  it('a separate cache Redis of its own topology', () => {
    const config = load({
      REDIS_CLUSTER_NODES: 'q1:7000',
      REDIS_CACHE_SENTINELS: 'c1:26379',
      REDIS_CACHE_SENTINEL_NAME: 'cache',
      REDIS_CACHE_PASSWORD: 'cpw',
      REDIS_CACHE_TLS: 'true',
    });
    expect(config.redis.queue?.kind).toBe('cluster');
    expect(config.redis.cache).toMatchObject({ kind: 'sentinel', name: 'cache', password: 'cpw', tls: true, db: 1 });
    const single = load({ REDIS_URL: 'redis://q:6379', REDIS_CACHE_URL: 'redis://c:6379', REDIS_CACHE_DB: '0' });
    // Separate servers: the same db number is fine.
    expect(single.redis.cache).toEqual({ kind: 'single', url: 'redis://c:6379', db: 0 });
  });

  it.each([
    [
      { REDIS_URL: 'redis://a', REDIS_SENTINELS: 's:1', REDIS_SENTINEL_NAME: 'n' },
      'REDIS_URL, REDIS_SENTINELS: set only one',
    ],
    [{ REDIS_SENTINELS: 's:1', REDIS_CLUSTER_NODES: 'n:1' }, 'REDIS_SENTINELS, REDIS_CLUSTER_NODES: set only one'],
    [
      { REDIS_URL: 'redis://a', REDIS_CACHE_URL: 'redis://b', REDIS_CACHE_CLUSTER_NODES: 'n:1' },
      'REDIS_CACHE_URL, REDIS_CACHE_CLUSTER_NODES: set only one',
    ],
    [{ REDIS_SENTINELS: 's:1' }, 'REDIS_SENTINEL_NAME: required with REDIS_SENTINELS'],
    [{ REDIS_SENTINELS: 's1,s2:1', REDIS_SENTINEL_NAME: 'n' }, 'REDIS_SENTINELS: entry 1 is not host:port'],
    [{ REDIS_CLUSTER_NODES: 'n:99999' }, 'REDIS_CLUSTER_NODES: entry 1 is not host:port'],
    [{ REDIS_CLUSTER_NODES: ' , ' }, 'REDIS_CLUSTER_NODES: needs at least one host:port'],
    [{ REDIS_URL: 'redis://a', REDIS_SENTINEL_NAME: 'n' }, 'REDIS_SENTINEL_NAME: only used with REDIS_SENTINELS'],
    [{ REDIS_URL: 'redis://a', REDIS_PASSWORD: 'p' }, 'REDIS_PASSWORD: with REDIS_URL the credentials go in the URL'],
    [{ REDIS_URL: 'redis://a', REDIS_TLS: 'true' }, 'REDIS_TLS: with REDIS_URL use a rediss:// URL'],
    [{ REDIS_USERNAME: 'u' }, 'REDIS_USERNAME: only used with REDIS_SENTINELS or REDIS_CLUSTER_NODES'],
    [{ REDIS_URL: 'redis://a', REDIS_TLS: 'perhaps' }, 'REDIS_TLS:'],
    [{ REDIS_URL: 'redis://a', REDIS_CACHE_URL: 'http://c' }, 'REDIS_CACHE_URL must be a redis:// or rediss:// URL'],
    [{ REDIS_CACHE_URL: 'redis://c' }, 'a cache Redis needs the queue Redis too'],
    [{ REDIS_CACHE_CLUSTER_NODES: 'c:1' }, 'REDIS_CACHE_URL/REDIS_CACHE_SENTINELS/REDIS_CACHE_CLUSTER_NODES'],
    [
      { REDIS_URL: 'redis://a', REDIS_CACHE_SENTINELS: 'c:1' },
      'REDIS_CACHE_SENTINEL_NAME: required with REDIS_CACHE_SENTINELS',
    ],
    [
      { REDIS_URL: 'redis://a', REDIS_CACHE_USERNAME: 'u', REDIS_CACHE_URL: 'redis://c' },
      'REDIS_CACHE_USERNAME: with REDIS_CACHE_URL',
    ],
    [{ REDIS_CLUSTER_NODES: 'n:1', REDIS_QUEUE_DB: '0' }, 'REDIS_QUEUE_DB: Redis Cluster has only db 0'],
    [{ REDIS_CLUSTER_NODES: 'n:1', REDIS_CACHE_DB: '2' }, 'REDIS_CACHE_DB: Redis Cluster has only db 0'],
    [{ REDIS_URL: 'redis://a', REDIS_CACHE_DB: '0' }, 'REDIS_CACHE_DB: must differ from REDIS_QUEUE_DB'],
    [{ API_WORKERS: '2', DATABASE_URL: 'mysql://d/e' }, 'API_WORKERS: more than 1 needs DATABASE_URL and REDIS_URL'],
  ])('refuses %j naming the variable', (env, expected) => {
    expect(problems(env as Record<string, string>)).toContain(expected);
  });

  it('API_WORKERS > 1 is accepted with Sentinel or Cluster', () => {
    expect(
      load({ API_WORKERS: '2', DATABASE_URL: 'mysql://d/e', REDIS_CLUSTER_NODES: 'n:1' }).processes.apiWorkers,
    ).toBe(2);
  });
});
