import { isIP } from 'node:net';
import { dirname } from 'node:path';
import { localJwtSecret } from './local-secret.js';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { EnvSchema } from './env.schema.js';

/** The one typed configuration object every module receives (built by loadConfig). */
export interface AppConfig {
  env: 'development' | 'production' | 'test';
  /** True when DATABASE_URL is unset: SQLite, applied migrations on start. */
  embeddedDatabase: boolean;
  /** True when REDIS_URL is unset: in-memory cache and in-process jobs. */
  embeddedRedis: boolean;
  http: {
    host: string;
    port: number;
    corsOrigins: string[];
    jsonBodyLimit: number;
    logLevel: string;
    /** Fastify `trustProxy`: false (default), a hop count, addresses/CIDRs, or true. */
    trustProxy: boolean | number | string[];
    publicUrl?: string;
    /** Lower-case host names (no port); `.example.com` = subdomains too, `*` = any. */
    allowedHosts: string[];
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    connectionTimeoutMs: number;
    keepAliveTimeoutMs: number;
    /** Load shedding thresholds; 0 = that check off. */
    pressure: { maxEventLoopDelayMs: number; maxRssBytes: number; maxHeapUsedBytes: number };
  };
  database: {
    url?: string;
    replicaUrls: string[];
    sqlitePath: string;
    poolSize: number;
    queueLimit: number;
    /** Longest wait for a pool connection before a 503; 0 = unbounded. */
    waitTimeoutMs: number;
    idleTimeoutMs: number;
    slowQueryMs: number;
    /** Worker processes expected against this database (connection budget check only). */
    expectedWorkerCopies: number;
  };
  redis: { url?: string; cacheDb: number; queueDb: number };
  cache: {
    namespace: string;
    ttlMs: number;
    commandTimeoutMs: number;
    enabled: boolean;
    nearTtlMs: number;
    nearMax: number;
  };
  queue: {
    prefix: string;
    workerConcurrency: number;
    lockDurationMs: number;
    stuckAfterMs: number;
    /** Deadline of one analysis attempt (ANALYSIS_TIMEOUT_SECONDS). */
    analysisTimeoutSeconds: number;
    maintenanceEveryMs: number;
  };
  auth: {
    jwtSecret: string;
    accessTtlSeconds: number;
    refreshTtlSeconds: number;
    throttleLimit: number;
    throttleTtlMs: number;
  };
  storage: {
    driver: 'local' | 's3';
    dir: string;
    s3: {
      bucket?: string;
      endpoint?: string;
      region: string;
      accessKeyId?: string;
      secretAccessKey?: string;
      forcePathStyle: boolean;
    };
  };
  uploads: {
    maxBytes: number;
    maxPixels: number;
    /** Frames (animated WebP) or pages (TIFF) one file may have. */
    maxFrames: number;
    quotaBytes?: number;
    /** Resumable uploads: staging directory (shared by all processes), expiry, per-user cap. */
    tus: { dir: string; expiryMs: number; maxPendingPerUser: number };
  };
  /** Live analysis events (SSE): per-user stream cap, heartbeat, the resume window. */
  events: {
    maxConnectionsPerUser: number;
    /** Open streams per API process, all users together. */
    maxConnections: number;
    heartbeatMs: number;
    replayMax: number;
    replayTtlMs: number;
  };
  /** Signed media URLs: lifetime, and a separate key (else one derived from the JWT secret). */
  media: { urlTtlSeconds: number; urlSecret?: string };
  /**
   * apiWorkers: API_WORKERS as set (the cluster primary passes its effective value to its workers);
   * heapLimitMb / semiSpaceMb: V8 flags the primary gives the workers it forks (0 = Node's default).
   */
  processes: { apiWorkers?: number; heapLimitMb: number; semiSpaceMb: number };
  /** port: the cluster primary's aggregated metrics; workerPort: the worker app's metrics server. */
  metrics: { token?: string; host: string; port: number; workerPort: number };
}

export class ConfigError extends Error {}

/** Validates the environment once; throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const known = Object.fromEntries(
    Object.keys(new EnvSchema())
      .concat(optionalKeys)
      .filter((k) => env[k] !== undefined && env[k] !== '')
      .map((k) => [k, env[k]]),
  );
  const parsed = plainToInstance(EnvSchema, known, { exposeDefaultValues: true });
  const errors = validateSync(parsed, { forbidUnknownValues: true });
  const problems = errors.map(
    (e) => `${e.property}: ${Object.values(e.constraints ?? {}).join('; ')} (got ${JSON.stringify(env[e.property])})`,
  );

  if (parsed.NODE_ENV === 'production') {
    if (!parsed.JWT_SECRET || parsed.JWT_SECRET.length < 32) {
      problems.push('JWT_SECRET: must be set to a random string of at least 32 characters when NODE_ENV=production');
    }
    if (!parsed.ALLOWED_HOSTS && !parsed.PUBLIC_URL) {
      problems.push(
        'ALLOWED_HOSTS: required when NODE_ENV=production (the host names clients use), unless PUBLIC_URL is set',
      );
    }
    if (parsed.STORAGE_DRIVER === 's3' && (!parsed.S3_ACCESS_KEY_ID || !parsed.S3_SECRET_ACCESS_KEY)) {
      problems.push('S3_ACCESS_KEY_ID/S3_SECRET_ACCESS_KEY: required with STORAGE_DRIVER=s3 when NODE_ENV=production');
    }
  }
  if (parsed.TRUST_PROXY.includes(',') || parsed.TRUST_PROXY.includes('.') || parsed.TRUST_PROXY.includes(':')) {
    for (const entry of parsed.TRUST_PROXY.split(','))
      if (!isAddressOrCidr(entry)) problems.push(`TRUST_PROXY: "${entry}" is not an address or CIDR`);
  }
  if (parsed.STORAGE_DRIVER === 's3' && !parsed.S3_BUCKET) problems.push('S3_BUCKET: required with STORAGE_DRIVER=s3');
  if (parsed.DB_REPLICA_URLS && !parsed.DATABASE_URL)
    problems.push('DB_REPLICA_URLS: needs DATABASE_URL (the primary)');
  if (parsed.API_WORKERS !== undefined && parsed.API_WORKERS > 1 && (!parsed.DATABASE_URL || !parsed.REDIS_URL)) {
    problems.push(
      'API_WORKERS: more than 1 needs DATABASE_URL and REDIS_URL (processes share the database, cache, rate limits and jobs)',
    );
  }
  if (parsed.REDIS_CACHE_DB === parsed.REDIS_QUEUE_DB) {
    problems.push('REDIS_CACHE_DB: must differ from REDIS_QUEUE_DB so a cache flush never touches jobs');
  }
  if (problems.length) throw new ConfigError(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);

  return {
    env: parsed.NODE_ENV,
    embeddedDatabase: !parsed.DATABASE_URL,
    embeddedRedis: !parsed.REDIS_URL,
    http: {
      host: parsed.HOST,
      port: parsed.PORT,
      corsOrigins: parsed.CORS_ORIGINS.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      jsonBodyLimit: parsed.JSON_BODY_LIMIT,
      logLevel: parsed.LOG_LEVEL,
      trustProxy: parseTrustProxy(parsed.TRUST_PROXY),
      publicUrl: parsed.PUBLIC_URL?.replace(/\/+$/, ''),
      allowedHosts: allowedHosts(parsed),
      requestTimeoutMs: parsed.HTTP_REQUEST_TIMEOUT_MS,
      headersTimeoutMs: Math.min(parsed.HTTP_HEADERS_TIMEOUT_MS, parsed.HTTP_REQUEST_TIMEOUT_MS),
      connectionTimeoutMs: parsed.HTTP_CONNECTION_TIMEOUT_MS,
      keepAliveTimeoutMs: parsed.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      pressure: {
        maxEventLoopDelayMs: parsed.PRESSURE_MAX_EVENT_LOOP_DELAY_MS,
        maxRssBytes: parsed.PRESSURE_MAX_RSS_MB * 1024 * 1024,
        maxHeapUsedBytes: parsed.PRESSURE_MAX_HEAP_USED_MB * 1024 * 1024,
      },
    },
    database: {
      url: parsed.DATABASE_URL,
      replicaUrls: parsed.DB_REPLICA_URLS ? parsed.DB_REPLICA_URLS.split(',') : [],
      sqlitePath: parsed.SQLITE_PATH,
      poolSize: parsed.DB_POOL_SIZE,
      queueLimit: parsed.DB_POOL_QUEUE_LIMIT,
      waitTimeoutMs: parsed.DB_POOL_WAIT_TIMEOUT_MS,
      idleTimeoutMs: parsed.DB_IDLE_TIMEOUT_MS,
      slowQueryMs: parsed.DB_SLOW_QUERY_MS,
      expectedWorkerCopies: parsed.DB_EXPECTED_WORKER_COPIES,
    },
    redis: { url: parsed.REDIS_URL, cacheDb: parsed.REDIS_CACHE_DB, queueDb: parsed.REDIS_QUEUE_DB },
    cache: {
      namespace: parsed.CACHE_NAMESPACE,
      ttlMs: parsed.CACHE_TTL_SECONDS * 1000,
      commandTimeoutMs: parsed.CACHE_COMMAND_TIMEOUT_MS,
      enabled: parsed.CACHE_ENABLED,
      nearTtlMs: parsed.CACHE_NEAR_TTL_MS,
      nearMax: parsed.CACHE_NEAR_MAX,
    },
    queue: {
      prefix: parsed.QUEUE_PREFIX,
      workerConcurrency: parsed.WORKER_CONCURRENCY,
      lockDurationMs: parsed.QUEUE_LOCK_DURATION_MS,
      stuckAfterMs: parsed.ANALYSIS_STUCK_AFTER_SECONDS * 1000,
      analysisTimeoutSeconds: parsed.ANALYSIS_TIMEOUT_SECONDS,
      maintenanceEveryMs: parsed.MAINTENANCE_EVERY_SECONDS * 1000,
    },
    auth: {
      jwtSecret: parsed.JWT_SECRET ?? localJwtSecret(dirname(parsed.SQLITE_PATH)),
      accessTtlSeconds: parsed.JWT_ACCESS_TTL_SECONDS,
      refreshTtlSeconds: parsed.JWT_REFRESH_TTL_SECONDS,
      throttleLimit: parsed.THROTTLE_AUTH_LIMIT,
      throttleTtlMs: parsed.THROTTLE_AUTH_TTL_SECONDS * 1000,
    },
    storage: {
      driver: parsed.STORAGE_DRIVER,
      dir: parsed.STORAGE_DIR,
      s3: {
        bucket: parsed.S3_BUCKET,
        endpoint: parsed.S3_ENDPOINT,
        region: parsed.S3_REGION,
        accessKeyId: parsed.S3_ACCESS_KEY_ID,
        secretAccessKey: parsed.S3_SECRET_ACCESS_KEY,
        forcePathStyle: parsed.S3_FORCE_PATH_STYLE,
      },
    },
    uploads: {
      maxBytes: parsed.UPLOAD_MAX_BYTES,
      maxPixels: parsed.UPLOAD_MAX_PIXELS,
      maxFrames: parsed.UPLOAD_MAX_FRAMES,
      quotaBytes: parsed.UPLOAD_QUOTA_BYTES,
      tus: {
        dir: parsed.TUS_DIR,
        expiryMs: parsed.TUS_EXPIRY * 1000,
        maxPendingPerUser: parsed.TUS_MAX_PENDING_PER_USER,
      },
    },
    events: {
      maxConnectionsPerUser: parsed.SSE_MAX_CONNECTIONS_PER_USER,
      maxConnections: parsed.SSE_MAX_CONNECTIONS,
      heartbeatMs: parsed.SSE_HEARTBEAT_SECONDS * 1000,
      replayMax: parsed.SSE_REPLAY_EVENTS,
      replayTtlMs: parsed.SSE_REPLAY_SECONDS * 1000,
    },
    media: { urlTtlSeconds: parsed.MEDIA_URL_TTL_SECONDS, urlSecret: parsed.MEDIA_URL_SECRET },
    processes: {
      apiWorkers: parsed.API_WORKERS,
      heapLimitMb: parsed.API_HEAP_LIMIT_MB,
      semiSpaceMb: parsed.API_SEMI_SPACE_MB,
    },
    metrics: {
      token: parsed.METRICS_TOKEN,
      host: parsed.METRICS_HOST,
      port: parsed.METRICS_PORT,
      workerPort: parsed.WORKER_METRICS_PORT,
    },
  };
}

function parseTrustProxy(value: string): boolean | number | string[] {
  if (value === '' || value === 'false') return false;
  if (value === 'true') return true;
  if (/^\d+$/.test(value)) return Number(value);
  return value.split(',');
}

function isAddressOrCidr(entry: string): boolean {
  const [address, bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (!family || rest.length) return false;
  return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

function allowedHosts(parsed: EnvSchema): string[] {
  if (parsed.ALLOWED_HOSTS)
    return parsed.ALLOWED_HOSTS.split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean);
  if (parsed.PUBLIC_URL) return [new URL(parsed.PUBLIC_URL).hostname.toLowerCase()];
  return ['localhost', '127.0.0.1', '[::1]'];
}

// Optional variables have no default, so they are not own keys of a fresh EnvSchema.
const optionalKeys = [
  'DATABASE_URL',
  'DB_REPLICA_URLS',
  'REDIS_URL',
  'JWT_SECRET',
  'S3_BUCKET',
  'S3_ENDPOINT',
  'S3_ACCESS_KEY_ID',
  'S3_SECRET_ACCESS_KEY',
  'UPLOAD_QUOTA_BYTES',
  'API_WORKERS',
  'METRICS_TOKEN',
  'PUBLIC_URL',
  'ALLOWED_HOSTS',
  'MEDIA_URL_SECRET',
];
