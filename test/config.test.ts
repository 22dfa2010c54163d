import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '@echo/config';

/** loadConfig's error, or a failure if it did not throw a ConfigError. */
function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig(${JSON.stringify(env)}) did not throw`);
}

const STRONG_SECRET = 'x'.repeat(40);

describe('loadConfig', () => {
  it('defaults to the embedded stack with documented pool/cache/queue settings', () => {
    const config = loadConfig({});
    expect(config.env).toBe('development');
    expect(config.embeddedDatabase).toBe(true);
    expect(config.embeddedRedis).toBe(true);
    expect(config.database.url).toBeUndefined();
    expect(config.redis.url).toBeUndefined();
    expect(config.database.poolSize).toBe(10);
    expect(config.database.queueLimit).toBe(1000);
    expect(config.database.waitTimeoutMs).toBe(5000);
    expect(config.cache.ttlMs).toBe(300_000);
    expect(config.cache.namespace).toBe('echo_cache');
    expect(config.redis.cacheDb).toBe(1);
    expect(config.redis.queueDb).toBe(0);
    expect(config.http.port).toBe(3000);
  });

  it('reads MySQL/Redis URLs and numbers from strings', () => {
    const config = loadConfig({
      DATABASE_URL: 'mysql://echo:echo@db:3306/echo',
      REDIS_URL: 'redis://redis:6379',
      DB_POOL_SIZE: '7',
      CACHE_TTL_SECONDS: '12',
      REDIS_CACHE_DB: '3',
      REDIS_QUEUE_DB: '2',
    });
    expect(config.embeddedDatabase).toBe(false);
    expect(config.embeddedRedis).toBe(false);
    expect(config.database.poolSize).toBe(7);
    expect(config.cache.ttlMs).toBe(12_000);
    expect(config.redis).toMatchObject({ url: 'redis://redis:6379', cacheDb: 3, queueDb: 2 });
  });

  it('treats empty URLs as unset', () => {
    const config = loadConfig({ DATABASE_URL: '', REDIS_URL: '' });
    expect(config.embeddedDatabase).toBe(true);
    expect(config.embeddedRedis).toBe(true);
  });

  it.each([
    ['DB_POOL_SIZE', 'abc'],
    ['DB_POOL_SIZE', '0'],
    ['DB_POOL_SIZE', '2.5'],
    ['DATABASE_URL', 'postgres://x'],
    ['REDIS_URL', 'http://localhost:6379'],
    ['PORT', '70000'],
    ['NODE_ENV', 'staging'],
    ['CACHE_TTL_SECONDS', '-1'],
    ['DB_POOL_QUEUE_LIMIT', 'lots'],
  ])('rejects %s=%s with a ConfigError naming the variable', (name, value) => {
    const err = configError({ [name]: value });
    expect(err.message).toContain(name);
    expect(err.message).toContain(JSON.stringify(value));
  });

  it('names every bad variable at once', () => {
    const err = configError({ DB_POOL_SIZE: 'abc', DATABASE_URL: 'postgres://x' });
    expect(err.message).toContain('DB_POOL_SIZE');
    expect(err.message).toContain('DATABASE_URL');
  });

  it('refuses production without JWT_SECRET, with a short one, and accepts a long one', () => {
    expect(configError({ NODE_ENV: 'production', ALLOWED_HOSTS: 'api.example.com' }).message).toContain('JWT_SECRET');
    expect(
      configError({ NODE_ENV: 'production', ALLOWED_HOSTS: 'api.example.com', JWT_SECRET: 'short-secret' }).message,
    ).toContain('JWT_SECRET');
    const config = loadConfig({ NODE_ENV: 'production', ALLOWED_HOSTS: 'api.example.com', JWT_SECRET: STRONG_SECRET });
    expect(config.auth.jwtSecret).toBe(STRONG_SECRET);
  });

  it('outside production without JWT_SECRET: a random secret kept in <data dir>/jwt-secret (0600), the same on every load, never a constant', () => {
    const dir = mkdtempSync(join(tmpdir(), 'echo-secret-'));
    const first = loadConfig({ NODE_ENV: 'development', SQLITE_PATH: join(dir, 'echo.sqlite') }).auth.jwtSecret;
    expect(first.length).toBeGreaterThanOrEqual(32);
    expect(statSync(join(dir, 'jwt-secret')).mode & 0o777).toBe(0o600);
    expect(loadConfig({ NODE_ENV: 'development', SQLITE_PATH: join(dir, 'echo.sqlite') }).auth.jwtSecret).toBe(first);
    const other = mkdtempSync(join(tmpdir(), 'echo-secret-'));
    expect(loadConfig({ NODE_ENV: 'development', SQLITE_PATH: join(other, 'echo.sqlite') }).auth.jwtSecret).not.toBe(
      first,
    );
    expect(first).not.toMatch(/echo-development-secret/);
  });

  it('production needs ALLOWED_HOSTS or PUBLIC_URL; PUBLIC_URL gives the default host', () => {
    expect(configError({ NODE_ENV: 'production', JWT_SECRET: STRONG_SECRET }).message).toContain('ALLOWED_HOSTS');
    const config = loadConfig({
      NODE_ENV: 'production',
      JWT_SECRET: STRONG_SECRET,
      PUBLIC_URL: 'https://api.example.com/',
    });
    expect(config.http.allowedHosts).toEqual(['api.example.com']);
    expect(config.http.publicUrl).toBe('https://api.example.com');
    expect(loadConfig({ NODE_ENV: 'development' }).http.allowedHosts).toEqual(['localhost', '127.0.0.1', '[::1]']);
  });

  it.each([
    ['', false],
    ['false', false],
    ['true', true],
    ['1', 1],
    ['10.0.0.1', ['10.0.0.1']],
    ['10.0.0.0/8,::1', ['10.0.0.0/8', '::1']],
  ])('TRUST_PROXY=%j → %j (default: trust no proxy)', (value, expected) => {
    expect(loadConfig({ TRUST_PROXY: value }).http.trustProxy).toEqual(expected);
  });

  it.each(['10.0.0.0/33', 'proxy.example.com', '1.2.3'])('rejects TRUST_PROXY=%s', (value) => {
    expect(configError({ TRUST_PROXY: value }).message).toContain('TRUST_PROXY');
  });

  it('rejects the same Redis db for cache and queue', () => {
    const err = configError({ REDIS_CACHE_DB: '0' });
    expect(err.message).toContain('REDIS_CACHE_DB');
    expect(configError({ REDIS_CACHE_DB: '4', REDIS_QUEUE_DB: '4' }).message).toContain('REDIS_QUEUE_DB');
  });

  it('ignores variables it does not know', () => {
    expect(() => loadConfig({ SOMETHING_ELSE: 'whatever', HOME: '/root' })).not.toThrow();
  });
});

const API_MAIN = resolve(import.meta.dirname, '../dist/apps/api/src/main.js');
const WORKER_MAIN = resolve(import.meta.dirname, '../dist/apps/worker/src/main.js');

describe.skipIf(!existsSync(API_MAIN) || !existsSync(WORKER_MAIN))('built entry points (loadConfigOrExit)', () => {
  it.each([
    ['API', API_MAIN],
    ['worker', WORKER_MAIN],
  ])('the %s exits 1 naming the bad variable on stderr', (_, main) => {
    const result = spawnSync(process.execPath, [main], {
      cwd: resolve(import.meta.dirname, '..'),
      env: { PATH: process.env.PATH, NODE_ENV: 'test', LOG_LEVEL: 'silent', DB_POOL_SIZE: 'abc' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.error).toBeUndefined();
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('DB_POOL_SIZE');
  });
});
