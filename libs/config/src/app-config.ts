import { isIP } from 'node:net';
import { dirname } from 'node:path';
import { localJwtSecret } from './local-secret.js';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { parseNodes, type RedisTopology } from '@echo/redis';
import { EnvSchema } from './env.schema.js';

/** The one typed configuration object every module receives (built by loadConfig). */
export interface AppConfig {
  env: 'development' | 'production' | 'test';
  /** True when DATABASE_URL is unset: SQLite, applied migrations on start. */
  embeddedDatabase: boolean;
  /** True when no queue Redis is set (REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES): in-memory cache and in-process jobs. */
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
  /**
   * queue: BullMQ, analysis events and their replay streams, stream tickets, SSE slots, the tus
   * locker and slots (a noeviction server). cache: cache entries, near-cache invalidation, rate
   * limits (may evict) — the queue's topology with db REDIS_CACHE_DB unless REDIS_CACHE_* say
   * otherwise. Both undefined in embedded mode. `url`: REDIS_URL as set (single-server queue only).
   */
  redis: { queue?: RedisTopology; cache?: RedisTopology; url?: string; cacheDb: number; queueDb: number };
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
   * Data exports: how long a finished archive is kept (EXPORT_TTL_HOURS); how long after one
   * completes a new request gets it back instead of a new build (EXPORT_COOLDOWN_MINUTES, 0 = off).
   */
  exports: { ttlMs: number; cooldownMs: number };
  /** Account deletion: the grace period before the purge (0 = purge at once); the storage audit's period (0 = off). */
  accounts: { deleteGraceMs: number; storageAuditEveryMs: number };
  /** The admin audit log: how long an entry is kept (AUDIT_RETENTION_DAYS). */
  audit: { retentionMs: number };
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
  const redis = redisTopologies(parsed, env, problems);
  if (parsed.API_WORKERS !== undefined && parsed.API_WORKERS > 1 && (!parsed.DATABASE_URL || !redis.queue)) {
    problems.push(
      'API_WORKERS: more than 1 needs DATABASE_URL and REDIS_URL (or REDIS_SENTINELS / REDIS_CLUSTER_NODES) (processes share the database, cache, rate limits and jobs)',
    );
  }
  if (problems.length) throw new ConfigError(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);

  return {
    env: parsed.NODE_ENV,
    embeddedDatabase: !parsed.DATABASE_URL,
    embeddedRedis: !redis.queue,
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
    redis: { ...redis, url: parsed.REDIS_URL, cacheDb: parsed.REDIS_CACHE_DB, queueDb: parsed.REDIS_QUEUE_DB },
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
    exports: { ttlMs: parsed.EXPORT_TTL_HOURS * 3600 * 1000, cooldownMs: parsed.EXPORT_COOLDOWN_MINUTES * 60 * 1000 },
    audit: { retentionMs: parsed.AUDIT_RETENTION_DAYS * 24 * 3600 * 1000 },
    accounts: {
      deleteGraceMs: parsed.ACCOUNT_DELETE_GRACE_DAYS * 24 * 3600 * 1000,
      storageAuditEveryMs: parsed.STORAGE_AUDIT_EVERY_SECONDS * 1000,
    },
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

type Env = Record<string, string | undefined>;

/**
 * One Redis role's variables (`REDIS_` for the queue, `REDIS_CACHE_` for the cache) → its
 * topology; undefined when none of its topology variables is set. Problems name the variables.
 */
function topologyOf(
  role: 'REDIS_' | 'REDIS_CACHE_',
  parsed: EnvSchema,
  db: number,
  problems: string[],
): RedisTopology | undefined {
  const v = parsed as unknown as Record<string, string | boolean | undefined>;
  const str = (name: string) => v[`${role}${name}`] as string | undefined;
  const url = str('URL');
  const sentinels = str('SENTINELS');
  const clusterNodes = str('CLUSTER_NODES');
  const set = [url && `${role}URL`, sentinels && `${role}SENTINELS`, clusterNodes && `${role}CLUSTER_NODES`].filter(
    Boolean,
  );
  if (set.length > 1) {
    problems.push(`${set.join(', ')}: set only one of them (one Redis topology for the ${roleName(role)})`);
    return undefined;
  }
  if (!sentinels) {
    for (const name of ['SENTINEL_NAME', 'SENTINEL_PASSWORD'])
      if (str(name)) problems.push(`${role}${name}: only used with ${role}SENTINELS`);
  }
  const auth = { username: str('USERNAME'), password: str('PASSWORD'), tls: v[`${role}TLS`] === true };
  if (url) {
    for (const name of ['USERNAME', 'PASSWORD'])
      if (str(name)) problems.push(`${role}${name}: with ${role}URL the credentials go in the URL`);
    if (auth.tls) problems.push(`${role}TLS: with ${role}URL use a rediss:// URL for TLS`);
    return { kind: 'single', url, db };
  }
  if (sentinels) {
    const nodes = parseNodes(sentinels);
    if ('error' in nodes) problems.push(`${role}SENTINELS: ${nodes.error} (expected host:port,host:port,…)`);
    const name = str('SENTINEL_NAME');
    if (!name) problems.push(`${role}SENTINEL_NAME: required with ${role}SENTINELS (the monitored set's name)`);
    if ('error' in nodes || !name) return undefined;
    return { kind: 'sentinel', sentinels: nodes.nodes, name, sentinelPassword: str('SENTINEL_PASSWORD'), db, ...auth };
  }
  if (clusterNodes) {
    const nodes = parseNodes(clusterNodes);
    if ('error' in nodes) {
      problems.push(`${role}CLUSTER_NODES: ${nodes.error} (expected host:port,host:port,…)`);
      return undefined;
    }
    return { kind: 'cluster', nodes: nodes.nodes, ...auth };
  }
  for (const name of ['USERNAME', 'PASSWORD'])
    if (str(name)) problems.push(`${role}${name}: only used with ${role}SENTINELS or ${role}CLUSTER_NODES`);
  if (auth.tls) problems.push(`${role}TLS: only used with ${role}SENTINELS or ${role}CLUSTER_NODES`);
  return undefined;
}

const roleName = (role: string) => (role === 'REDIS_' ? 'queue' : 'cache');

/**
 * The queue's and the cache's Redis. The cache defaults to the queue's topology (db
 * REDIS_CACHE_DB). Redis Cluster has no logical dbs: there the cache and the queue share db 0
 * and are kept apart by key prefix (CACHE_NAMESPACE vs QUEUE_PREFIX), so setting a db is an error.
 */
function redisTopologies(
  parsed: EnvSchema,
  env: Env,
  problems: string[],
): { queue?: RedisTopology; cache?: RedisTopology } {
  const queue = topologyOf('REDIS_', parsed, parsed.REDIS_QUEUE_DB, problems);
  const ownCache = topologyOf('REDIS_CACHE_', parsed, parsed.REDIS_CACHE_DB, problems);
  const anyCacheVar = ['REDIS_CACHE_URL', 'REDIS_CACHE_SENTINELS', 'REDIS_CACHE_CLUSTER_NODES'].some((k) => env[k]);
  const anyQueueVar = ['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'].some((k) => env[k]);
  if (anyCacheVar && !anyQueueVar)
    problems.push(
      'REDIS_CACHE_URL/REDIS_CACHE_SENTINELS/REDIS_CACHE_CLUSTER_NODES: a cache Redis needs the queue Redis too (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES)',
    );
  let cache: RedisTopology | undefined = ownCache;
  if (!cache && queue) cache = queue.kind === 'cluster' ? queue : { ...queue, db: parsed.REDIS_CACHE_DB };
  const explicitDb = (name: string) => env[name] !== undefined && env[name] !== '';
  if (queue?.kind === 'cluster' && explicitDb('REDIS_QUEUE_DB'))
    problems.push('REDIS_QUEUE_DB: Redis Cluster has only db 0 (the queue is kept apart by QUEUE_PREFIX); unset it');
  if (cache?.kind === 'cluster' && explicitDb('REDIS_CACHE_DB'))
    problems.push('REDIS_CACHE_DB: Redis Cluster has only db 0 (the cache is kept apart by CACHE_NAMESPACE); unset it');
  const shared = !ownCache;
  if (shared && queue?.kind !== 'cluster' && parsed.REDIS_CACHE_DB === parsed.REDIS_QUEUE_DB) {
    problems.push('REDIS_CACHE_DB: must differ from REDIS_QUEUE_DB so a cache flush never touches jobs');
  }
  return { queue, cache };
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
  'REDIS_SENTINELS',
  'REDIS_SENTINEL_NAME',
  'REDIS_SENTINEL_PASSWORD',
  'REDIS_CLUSTER_NODES',
  'REDIS_USERNAME',
  'REDIS_PASSWORD',
  'REDIS_CACHE_URL',
  'REDIS_CACHE_SENTINELS',
  'REDIS_CACHE_SENTINEL_NAME',
  'REDIS_CACHE_SENTINEL_PASSWORD',
  'REDIS_CACHE_CLUSTER_NODES',
  'REDIS_CACHE_USERNAME',
  'REDIS_CACHE_PASSWORD',
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
