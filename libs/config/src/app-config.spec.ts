import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './app-config.js';

// JWT_SECRET set: without it loadConfig creates a local secret file next to the SQLite path.
const base = { JWT_SECRET: 'x'.repeat(40) };

function problems(env: Record<string, string>): string {
  try {
    loadConfig({ ...base, ...env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`loadConfig(${JSON.stringify(env)}) did not throw`);
}

describe('loadConfig', () => {
  it('parses numbers, booleans and lists from strings, and converts units', () => {
    const config = loadConfig({
      ...base,
      PORT: '8080',
      CACHE_TTL_SECONDS: '12',
      S3_FORCE_PATH_STYLE: 'no',
      CORS_ORIGINS: 'https://a.test, https://b.test,',
      ALLOWED_HOSTS: 'API.example.com,.example.org',
    });
    expect(config.http.port).toBe(8080);
    expect(config.cache.ttlMs).toBe(12_000);
    expect(config.storage.s3.forcePathStyle).toBe(false);
    expect(config.http.corsOrigins).toEqual(['https://a.test', 'https://b.test']);
    expect(config.http.allowedHosts).toEqual(['api.example.com', '.example.org']);
  });

  it('reads AUDIT_RETENTION_DAYS (default 365) and refuses values outside 1..36500 days', () => {
    expect(loadConfig(base).audit.retentionMs).toBe(365 * 24 * 3600 * 1000);
    expect(loadConfig({ ...base, AUDIT_RETENTION_DAYS: '30' }).audit.retentionMs).toBe(30 * 24 * 3600 * 1000);
    for (const value of ['0', '36501', 'x', '1.5'])
      expect(problems({ AUDIT_RETENTION_DAYS: value })).toMatch(/AUDIT_RETENTION_DAYS/);
  });

  it('reads EXPORT_TTL_HOURS (default 48) and refuses values outside 1..720 hours', () => {
    expect(loadConfig(base).exports.ttlMs).toBe(48 * 3600 * 1000);
    expect(loadConfig({ ...base, EXPORT_TTL_HOURS: '2' }).exports.ttlMs).toBe(2 * 3600 * 1000);
    expect(problems({ EXPORT_TTL_HOURS: '0' })).toMatch(/EXPORT_TTL_HOURS/);
    expect(problems({ EXPORT_TTL_HOURS: '721' })).toMatch(/EXPORT_TTL_HOURS/);
    expect(problems({ EXPORT_TTL_HOURS: '1.5' })).toMatch(/EXPORT_TTL_HOURS/);
  });

  it('reads EXPORT_COOLDOWN_MINUTES (default 60, 0 = off) and refuses values outside 0..43200 minutes', () => {
    expect(loadConfig(base).exports.cooldownMs).toBe(60 * 60 * 1000);
    expect(loadConfig({ ...base, EXPORT_COOLDOWN_MINUTES: '0' }).exports.cooldownMs).toBe(0);
    expect(loadConfig({ ...base, EXPORT_COOLDOWN_MINUTES: '15' }).exports.cooldownMs).toBe(15 * 60 * 1000);
    for (const value of ['-1', '43201', '1.5', 'hour'])
      expect(problems({ EXPORT_COOLDOWN_MINUTES: value })).toMatch(/EXPORT_COOLDOWN_MINUTES/);
  });

  it('reads ACCOUNT_DELETE_GRACE_DAYS (default 7, 0 = purge at once) and STORAGE_AUDIT_EVERY_SECONDS; refuses bad values', () => {
    expect(loadConfig(base).accounts).toEqual({
      deleteGraceMs: 7 * 24 * 3600 * 1000,
      storageAuditEveryMs: 24 * 3600 * 1000,
    });
    expect(loadConfig({ ...base, ACCOUNT_DELETE_GRACE_DAYS: '0' }).accounts.deleteGraceMs).toBe(0);
    expect(loadConfig({ ...base, STORAGE_AUDIT_EVERY_SECONDS: '0' }).accounts.storageAuditEveryMs).toBe(0);
    for (const value of ['-1', '366', '1.5', 'week'])
      expect(problems({ ACCOUNT_DELETE_GRACE_DAYS: value })).toMatch(/ACCOUNT_DELETE_GRACE_DAYS/);
    expect(problems({ STORAGE_AUDIT_EVERY_SECONDS: '-5' })).toMatch(/STORAGE_AUDIT_EVERY_SECONDS/);
  });

  it('treats empty strings as unset', () => {
    const config = loadConfig({ ...base, DATABASE_URL: '', PORT: '' });
    expect(config.embeddedDatabase).toBe(true);
    expect(config.http.port).toBe(3000);
  });

  it('reads TRUST_PROXY as false, true, a hop count or a list of addresses', () => {
    expect(loadConfig({ ...base }).http.trustProxy).toBe(false);
    expect(loadConfig({ ...base, TRUST_PROXY: 'true' }).http.trustProxy).toBe(true);
    expect(loadConfig({ ...base, TRUST_PROXY: '2' }).http.trustProxy).toBe(2);
    expect(loadConfig({ ...base, TRUST_PROXY: '10.0.0.0/8,::1' }).http.trustProxy).toEqual(['10.0.0.0/8', '::1']);
    expect(problems({ TRUST_PROXY: '10.0.0.0/33' })).toContain('TRUST_PROXY: "10.0.0.0/33" is not an address or CIDR');
  });

  it('derives ALLOWED_HOSTS from PUBLIC_URL, and caps the headers timeout at the request timeout', () => {
    const config = loadConfig({
      ...base,
      PUBLIC_URL: 'https://Photos.Example.com/',
      HTTP_REQUEST_TIMEOUT_MS: '5000',
      HTTP_HEADERS_TIMEOUT_MS: '60000',
    });
    expect(config.http.allowedHosts).toEqual(['photos.example.com']);
    expect(config.http.publicUrl).toBe('https://Photos.Example.com');
    expect(config.http.headersTimeoutMs).toBe(5000);
  });

  it('names every bad variable in one error', () => {
    const message = problems({
      PORT: 'eighty',
      S3_FORCE_PATH_STYLE: 'maybe',
      REDIS_CACHE_DB: '0',
      REDIS_QUEUE_DB: '0',
    });
    expect(message).toMatch(/PORT: .*\(got "eighty"\)/);
    expect(message).toMatch(/S3_FORCE_PATH_STYLE: .*\(got "maybe"\)/);
    expect(message).toContain('REDIS_CACHE_DB: must differ from REDIS_QUEUE_DB');
  });

  it('refuses cross-variable mistakes', () => {
    expect(problems({ DB_REPLICA_URLS: 'mysql://r/echo' })).toContain('DB_REPLICA_URLS: needs DATABASE_URL');
    expect(problems({ API_WORKERS: '2' })).toContain('API_WORKERS: more than 1 needs DATABASE_URL and REDIS_URL');
    expect(problems({ STORAGE_DRIVER: 's3' })).toContain('S3_BUCKET: required with STORAGE_DRIVER=s3');
    expect(problems({ NODE_ENV: 'production', JWT_SECRET: 'short' })).toContain(
      'JWT_SECRET: must be set to a random string of at least 32',
    );
  });
});
