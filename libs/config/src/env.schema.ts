import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, IsUrl, Matches, Max, Min, MinLength } from 'class-validator';
import { toBool } from './to-bool.js';

const toInt = ({ value }: { value: unknown }) =>
  value === undefined || value === '' ? undefined : /^-?\d+$/.test(String(value)) ? Number(value) : value;
const emptyToUndefined = ({ value }: { value: unknown }) => (value === '' ? undefined : value);

/**
 * Every environment variable Echo reads, with its default. Validated once at start-up
 * (loadConfig); a bad value stops the process with the variable's name in the message.
 */
export class EnvSchema {
  @IsIn(['development', 'production', 'test'])
  NODE_ENV: 'development' | 'production' | 'test' = 'development';

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 3000;

  @IsString()
  HOST = '0.0.0.0';

  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL = 'info';

  /** Comma-separated allowed origins; empty = CORS off. `*` allows any origin. */
  @IsString()
  CORS_ORIGINS = '';

  /**
   * Load shedding (@fastify/under-pressure): past this event-loop delay, this resident memory or
   * this V8 heap in use (MB), requests get 503 + Retry-After instead of queueing; 0 turns a check
   * off. Measured by bench/overload.js (2 cores, 1000 connections, cache off): the database
   * slowing down is caught by DB_POOL_WAIT_TIMEOUT_MS, not by these. RSS and heap stay off by
   * default: RSS does not fall back after a burst (a forked API worker idles at ~150 MB and holds
   * ~180 MB after 1000 connections, its heap capped by API_HEAP_LIMIT_MB), so a cap below that
   * plateau would refuse every request from then on. Set them as a last guard above what your own
   * load test shows.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  PRESSURE_MAX_EVENT_LOOP_DELAY_MS = 1000;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  PRESSURE_MAX_RSS_MB = 0;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  PRESSURE_MAX_HEAP_USED_MB = 0;

  /** Largest JSON body accepted (bytes); bigger is 413. */
  @Transform(toInt)
  @IsInt()
  @Min(1024)
  JSON_BODY_LIMIT = 1024 * 1024;

  /**
   * Which proxies' X-Forwarded-* headers to believe (Fastify `trustProxy`): empty/`false` = none
   * (the socket address is the client), a hop count, or comma-separated addresses/CIDRs; `true`
   * trusts any sender and is only safe when nothing but the proxy can reach the API.
   */
  @Matches(/^(|false|true|\d{1,2}|[0-9a-fA-F.:/]+(,[0-9a-fA-F.:/]+)*)$/, {
    message: 'TRUST_PROXY must be false, true, a hop count, or comma-separated addresses/CIDRs',
  })
  TRUST_PROXY = '';

  /** The API's public origin (`https://api.example.com`): page links are built from it, never from Host. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  PUBLIC_URL?: string;

  /**
   * Host names the API answers to (Django's ALLOWED_HOSTS): another Host header is 400. A leading
   * dot matches subdomains, `*` any host. Development default: localhost, 127.0.0.1, [::1].
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^[A-Za-z0-9.*:[\]_-]+(,[A-Za-z0-9.*:[\]_-]+)*$/, {
    message: 'ALLOWED_HOSTS must be comma-separated host names',
  })
  ALLOWED_HOSTS?: string;

  /** Whole request (headers and body) must arrive within this; slow clients are cut off. */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  HTTP_REQUEST_TIMEOUT_MS = 300_000;

  /** Headers must arrive within this. */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  HTTP_HEADERS_TIMEOUT_MS = 20_000;

  /** A socket idle (nothing sent or received) this long is closed. */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  HTTP_CONNECTION_TIMEOUT_MS = 60_000;

  /** Idle keep-alive connections are closed after this (above a load balancer's idle timeout). */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  HTTP_KEEP_ALIVE_TIMEOUT_MS = 72_000;

  // --- database ---
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^(mysql|mariadb):\/\/.+/, { message: 'DATABASE_URL must be a mysql:// or mariadb:// URL' })
  DATABASE_URL?: string;

  /** Comma-separated mysql:// URLs of read replicas. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^((mysql|mariadb):\/\/[^,]+)(,(mysql|mariadb):\/\/[^,]+)*$/, {
    message: 'DB_REPLICA_URLS must be comma-separated mysql:// URLs',
  })
  DB_REPLICA_URLS?: string;

  @IsString()
  SQLITE_PATH = '.data/echo.sqlite';

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000)
  DB_POOL_SIZE = 10;

  /**
   * Requests allowed to wait for a pool connection (per process); beyond it the API answers 503 at
   * once. A memory backstop: DB_POOL_WAIT_TIMEOUT_MS bounds the wait in time. Measured: at 1000
   * connections on 2 processes with the cache off, a process's queue stands near 500 in normal
   * operation (the connections split unevenly), so 500 refused part of the normal load; 1000
   * refused none.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  DB_POOL_QUEUE_LIMIT = 1000;

  /**
   * A request waits at most this long for a pool connection, then gets 503 + Retry-After; for a
   * second after such a timeout the API refuses new requests at the door (0 = unbounded, no door).
   * Measured: with the cache off and 1000 connections the normal wait reaches ~3 s on 2 cores, so
   * 2000–3000 refused normal load (and the refusals' own work kept it refusing); 5000 refused
   * none, and a database slowed by 300 ms per packet turned into 503s within ~3 s, p50 ~0.1 s.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  DB_POOL_WAIT_TIMEOUT_MS = 5000;

  /** Idle connections are kept this long (reused rather than reopened; capped below the server's wait_timeout). */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  DB_IDLE_TIMEOUT_MS = 600_000;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  DB_SLOW_QUERY_MS = 200;

  /**
   * Worker processes (replicas) expected to run against this database. Used only by the start-up
   * connection budget check: (API_WORKERS + DB_EXPECTED_WORKER_COPIES) × DB_POOL_SIZE against
   * the server's max_connections.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(1000)
  DB_EXPECTED_WORKER_COPIES = 1;

  // --- redis ---
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^rediss?:\/\/.+/, { message: 'REDIS_URL must be a redis:// or rediss:// URL' })
  REDIS_URL?: string;

  /**
   * The queue's Redis as a Sentinel set (instead of REDIS_URL): `host:port,…` of the sentinels,
   * the set's name, and the sentinels' own password if they require one.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  REDIS_SENTINELS?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  REDIS_SENTINEL_NAME?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  REDIS_SENTINEL_PASSWORD?: string;

  /** The queue's Redis as a Redis Cluster (instead of REDIS_URL): seed nodes `host:port,…`. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  REDIS_CLUSTER_NODES?: string;

  /** ACL user, password and TLS of the data nodes with REDIS_SENTINELS or REDIS_CLUSTER_NODES (a URL carries its own). */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  REDIS_USERNAME?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  REDIS_PASSWORD?: string;

  @Transform(toBool)
  @IsBoolean()
  REDIS_TLS = false;

  /**
   * The cache's own Redis (cache entries, near-cache invalidation, rate limits), so it can run
   * with maxmemory + allkeys-lru apart from the queue's noeviction server. Unset: the queue's.
   * Same forms as the queue's: a URL, a Sentinel set, or a Cluster, with their own credentials.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^rediss?:\/\/.+/, { message: 'REDIS_CACHE_URL must be a redis:// or rediss:// URL' })
  REDIS_CACHE_URL?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  REDIS_CACHE_SENTINELS?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  REDIS_CACHE_SENTINEL_NAME?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  REDIS_CACHE_SENTINEL_PASSWORD?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  REDIS_CACHE_CLUSTER_NODES?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  REDIS_CACHE_USERNAME?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  REDIS_CACHE_PASSWORD?: string;

  @Transform(toBool)
  @IsBoolean()
  REDIS_CACHE_TLS = false;

  /** Logical dbs (single server and Sentinel; Redis Cluster has db 0 only and separates by key prefix). */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(15)
  REDIS_CACHE_DB = 1;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(15)
  REDIS_QUEUE_DB = 0;

  @IsString()
  @MinLength(1)
  CACHE_NAMESPACE = 'echo_cache';

  @Transform(toInt)
  @IsInt()
  @Min(1)
  CACHE_TTL_SECONDS = 300;

  /**
   * A cache command slower than this (plus the process's recent event-loop delay) is treated as a
   * miss (fail open). A dead Redis fails at once (no offline queue); this bounds a hung one.
   * Measured at 1000 connections on 2 API processes (own uploads page): at 50 ms a loaded process
   * timed out 12,316 of its own Redis replies and sent them to the database (server p99 4.7 s);
   * at 250 ms, 1,609 (server p99 0.47 s).
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  CACHE_COMMAND_TIMEOUT_MS = 250;

  /** false bypasses the cache entirely (every read goes to the database): for measuring, not production. */
  @Transform(toBool)
  @IsBoolean()
  CACHE_ENABLED = true;

  /**
   * The in-process first tier (user records, list versions) in front of Redis: entries live this
   * long at most, invalidated at once across processes by Redis pub/sub (the TTL only bounds a lost
   * message). It takes a cached own-uploads page from three Redis round trips to one. 0 turns it off.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(60_000)
  CACHE_NEAR_TTL_MS = 5_000;

  /** Entries the first tier holds per process (LRU). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  CACHE_NEAR_MAX = 10_000;

  @IsString()
  @MinLength(1)
  QUEUE_PREFIX = 'bull';

  // --- auth ---
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  JWT_SECRET?: string;

  @Transform(toInt)
  @IsInt()
  @Min(30)
  JWT_ACCESS_TTL_SECONDS = 900;

  @Transform(toInt)
  @IsInt()
  @Min(60)
  JWT_REFRESH_TTL_SECONDS = 14 * 24 * 3600;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  THROTTLE_AUTH_LIMIT = 10;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  THROTTLE_AUTH_TTL_SECONDS = 60;

  // --- uploads / storage ---
  @IsIn(['local', 's3'])
  STORAGE_DRIVER: 'local' | 's3' = 'local';

  @IsString()
  STORAGE_DIR = '.data/storage';

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  S3_BUCKET?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsUrl({ require_tld: false, require_protocol: true })
  S3_ENDPOINT?: string;

  @IsString()
  S3_REGION = 'us-east-1';

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  S3_ACCESS_KEY_ID?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  S3_SECRET_ACCESS_KEY?: string;

  @Transform(toBool)
  @IsBoolean()
  S3_FORCE_PATH_STYLE = true;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  UPLOAD_MAX_BYTES = 20 * 1024 * 1024;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  UPLOAD_MAX_PIXELS = 50_000_000;

  /**
   * Frames of an animated WebP or pages of a TIFF one file may have, counted from the container
   * before any decoder runs (intake and analysis): libvips walks WebP frames in time quadratic in
   * their number (measured: 4,000 tiny frames 0.1 s, 32,000 7 s).
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100_000)
  UPLOAD_MAX_FRAMES = 1000;

  @Transform(toInt)
  @IsOptional()
  @IsInt()
  @Min(1)
  UPLOAD_QUOTA_BYTES?: number;

  // --- resumable uploads (tus) ---
  /**
   * Where unfinished tus uploads (bytes + a JSON info file each) are kept. Every API process must
   * see the same directory (a shared volume), and the worker too: its maintenance job expires them.
   */
  @IsString()
  @MinLength(1)
  TUS_DIR = '.data/tus';

  /** Seconds an unfinished tus upload lives after its creation (Upload-Expires); then 410 and removed. */
  @Transform(toInt)
  @IsInt()
  @Min(60)
  TUS_EXPIRY = 24 * 3600;

  /** Unfinished tus uploads one user may hold at once (each can hold up to UPLOAD_MAX_BYTES on disk). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(10_000)
  TUS_MAX_PENDING_PER_USER = 20;

  /**
   * Lifetime of the signed `file_url`/`thumbnail_url` an upload object carries (an `<img>` can use
   * them without an Authorization header). Expiries are rounded up to a quarter of this, so a URL
   * stays the same (and browser-cacheable) for that long and lives between 1× and 1.25× this.
   */
  @Transform(toInt)
  @IsInt()
  // At least 5 min: a cached list page (≤ 60 s old) must never hand out a URL about to expire.
  @Min(300)
  @Max(7 * 24 * 3600)
  MEDIA_URL_TTL_SECONDS = 3600;

  /** Key for media URL signatures; unset: derived from JWT_SECRET (HKDF, its own label). */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MinLength(32)
  MEDIA_URL_SECRET?: string;

  /**
   * Hours a data export (POST /api/users/me/export) can be downloaded once built; then its archive
   * is removed. A failed export's reason is kept as long.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(30 * 24)
  EXPORT_TTL_HOURS = 48;

  /**
   * Minutes after an export completes during which a new request answers with that export (while
   * its link is still good) instead of building another: each build reads every original. 0 = off.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(30 * 24 * 60)
  EXPORT_COOLDOWN_MINUTES = 60;

  // --- worker / processes ---
  /**
   * Analyses one worker process runs at once. sharp runs in libuv's pool (4 threads unless
   * UV_THREADPOOL_SIZE says otherwise), so 4 keeps the cores busy while other jobs wait on I/O
   * (measured: docs/api.md, Worker knobs).
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(64)
  WORKER_CONCURRENCY = 4;

  /** How long a worker's job lock lasts; a killed worker's job is retried after about this long. */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  QUEUE_LOCK_DURATION_MS = 30_000;

  /** Analyses still queued/processing after this long are re-enqueued by the reconciler. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  ANALYSIS_STUCK_AFTER_SECONDS = 300;

  /** One analysis attempt that runs longer than this fails (no retry) with a reason saying so. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3600)
  ANALYSIS_TIMEOUT_SECONDS = 30;

  /** How often the reconciler (and the orphan sweeper) run. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  MAINTENANCE_EVERY_SECONDS = 60;

  /**
   * API processes (node:cluster workers sharing PORT); 1 = no cluster. Unset: computed from the
   * machine's CPUs and memory (see api-workers.ts).
   */
  @Transform(toInt)
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(64)
  API_WORKERS?: number;

  /**
   * V8 heap limits of each API process the cluster primary forks, in MB: the old space (0 = Node's
   * default, a share of the machine's memory: V8 then collects lazily and a process swelled to
   * 450–550 MB under load) and the young generation's semi-space (0 = Node's default, 16). An
   * operator's own --max-old-space-size / --max-semi-space-size (NODE_OPTIONS) wins. Chosen by
   * measurement: docs/performance.md, Memory.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65_536)
  API_HEAP_LIMIT_MB = 192;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(256)
  API_SEMI_SPACE_MB = 8;

  // --- live analysis events (SSE) ---
  /** Open event streams per user, across all API processes; one more is 429. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100)
  SSE_MAX_CONNECTIONS_PER_USER = 5;

  /**
   * Open event streams per API process, all users together; one more is 503 with Retry-After
   * (clients retry, or reach another process). Each holds a socket (a file descriptor: keep this
   * well under `ulimit -n`) and a few KB of memory.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100_000)
  SSE_MAX_CONNECTIONS = 1000;

  /** A comment line this often keeps proxies from closing an idle stream. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(300)
  SSE_HEARTBEAT_SECONDS = 15;

  /** Events kept per user for resuming with Last-Event-ID (the newest this many)… */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(10_000)
  SSE_REPLAY_EVENTS = 200;

  /** …and for this long after that user's last event. */
  @Transform(toInt)
  @IsInt()
  @Min(10)
  @Max(86_400)
  SSE_REPLAY_SECONDS = 600;

  // --- account deletion ---
  /**
   * Days between a deletion request (DELETE /api/users/me, or an admin's) and the purge of the
   * account's data; during them the account is deactivated and can be restored. 0 = purge at once.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(365)
  ACCOUNT_DELETE_GRACE_DAYS = 7;

  /** Days an admin audit log entry is kept; older ones are pruned by the worker's maintenance (embedded: a timer). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(36500)
  AUDIT_RETENTION_DAYS = 365;

  /** How often the worker's storage audit runs (it only reports: logs and a metric); 0 = never. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  STORAGE_AUDIT_EVERY_SECONDS = 24 * 3600;

  // --- metrics ---
  /**
   * When set, every /metrics endpoint needs `Authorization: Bearer <METRICS_TOKEN>`. When unset,
   * only direct loopback clients (127.0.0.1/::1, no proxy headers) may read them; others get 404.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MinLength(16)
  METRICS_TOKEN?: string;

  /** Interface the separate metrics servers bind (the worker's, and the cluster primary's). */
  @IsString()
  @MinLength(1)
  METRICS_HOST = '127.0.0.1';

  /** Cluster mode (API_WORKERS > 1): the primary serves all API workers' metrics here; 0 = off. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  METRICS_PORT = 9465;

  /** The worker app's metrics server (`GET /metrics`); 0 = off. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  WORKER_METRICS_PORT = 9464;
}
