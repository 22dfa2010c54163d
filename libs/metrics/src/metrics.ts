import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import type { CacheStats } from '@echo/cache';
import { dbQueriesSent, isMysql, poolStats } from '@echo/database';

/**
 * The process's one registry: Node's default process metrics (memory, CPU, event-loop lag, GC,
 * handles) plus Echo's. Metric names are a contract: the benchmark harness and dashboards read them.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

/** Where the scrape-time metrics read from: one entry per Nest app in this process. */
export interface MetricsSource {
  dataSource?: DataSource;
  cache?: { stats: CacheStats };
  queueCounts?: () => Promise<Record<string, Record<string, number>>>;
  /** Per queue, seconds the job at the head of its waiting list has been due (0: none waiting). */
  queueOldestWaiting?: () => Promise<Record<string, number>>;
  /** Server-Sent Event streams this app has open (the API's live events). */
  eventStreamsOpen?: () => number;
}

const sources = new Set<MetricsSource>();

/** Registers a source for scrape-time metrics; returns its removal (call it when the app closes). */
export function addMetricsSource(source: MetricsSource): () => void {
  sources.add(source);
  if (source.dataSource && isMysql(source.dataSource) && !registry.getSingleMetric(POOL_METRIC)) {
    registry.registerMetric(dbPoolConnections);
  }
  if (source.eventStreamsOpen && !registry.getSingleMetric(EVENT_STREAMS_METRIC)) {
    registry.registerMetric(eventStreamsOpen);
  }
  return () => void sources.delete(source);
}

// --- recorded where things happen ---

export const httpRequestDuration = new Histogram({
  name: 'echo_http_request_duration_seconds',
  help: 'HTTP requests served by the API, by method, route pattern (`unmatched` for 404s of unknown paths) and status code.',
  labelNames: ['method', 'route', 'status_code'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

/**
 * The `format` label's values: what uploads accept (libs/uploads' sniffImageType), so the label's
 * cardinality is bounded whatever a decoder reports; anything else is `other`.
 */
export const ANALYSIS_FORMATS = ['jpeg', 'png', 'gif', 'webp', 'tiff', 'heic', 'heif', 'avif'] as const;
const ANALYSIS_FORMAT_SET: ReadonlySet<string> = new Set(ANALYSIS_FORMATS);

/** A decoded format (sharp's id, Echo's heic/avif) or an image/* content type, as a `format` label value. */
export function analysisFormatLabel(format: string | undefined): string {
  const id = format?.toLowerCase().replace(/^image\//, '');
  return id && ANALYSIS_FORMAT_SET.has(id) ? id : 'other';
}

export const analysisDuration = new Histogram({
  name: 'echo_analysis_duration_seconds',
  help: "Analysis attempts by outcome (completed, failed for good, or retry: failed, another attempt follows) and image format (the decoded one, else the upload's sniffed type; other when neither is one uploads accept).",
  labelNames: ['outcome', 'format'] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  registers: [registry],
});

export const analysisFailures = new Counter({
  name: 'echo_analysis_failures_total',
  help: 'Analyses that failed for good: an unreadable image, or the last attempt failed.',
  registers: [registry],
});

/** Set by the scheduled storage audit (which only reports): its last run's findings, by kind. */
export const storageAuditFindings = new Gauge({
  name: 'echo_storage_audit_findings',
  help: 'Findings of the last storage audit: orphan_objects (no row names them), unknown_objects (no shape Echo writes), rows_without_object.',
  labelNames: ['kind'] as const,
  aggregator: 'max',
  registers: [registry],
});

export const storageAuditLastRun = new Gauge({
  name: 'echo_storage_audit_last_run_timestamp_seconds',
  help: 'When the last storage audit finished (Unix time): alert when it falls behind STORAGE_AUDIT_EVERY_SECONDS.',
  aggregator: 'max',
  registers: [registry],
});

/** One series per process, value 1: how many processes (and which) report, also through the cluster aggregation. */
const processInfo = new Gauge({
  name: 'echo_process_info',
  help: 'One series per Echo process reporting these metrics (value 1).',
  labelNames: ['role', 'pid'] as const,
  aggregator: 'sum',
  registers: [registry],
});

export function markProcess(role: 'api' | 'worker'): void {
  processInfo.set({ role, pid: String(process.pid) }, 1);
}

// --- read at scrape time ---

new Counter({
  name: 'echo_db_queries_total',
  help: 'SQL statements sent by this process (every data source, including retries and transaction statements).',
  registers: [registry],
  collect() {
    this.reset();
    this.inc(dbQueriesSent());
  },
});

new Counter({
  name: 'echo_cache_requests_total',
  help: 'Cache reads by key namespace (first key segment) and result.',
  labelNames: ['namespace', 'result'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const { cache } of sources) {
      if (!cache) continue;
      for (const [namespace, n] of Object.entries(cache.stats.hits)) this.inc({ namespace, result: 'hit' }, n);
      for (const [namespace, n] of Object.entries(cache.stats.misses)) this.inc({ namespace, result: 'miss' }, n);
    }
  },
});

new Counter({
  name: 'echo_cache_errors_total',
  help: 'Cache commands that failed or timed out (served as misses: the cache fails open).',
  registers: [registry],
  collect() {
    this.reset();
    let errors = 0;
    for (const { cache } of sources) errors += cache?.stats.errors ?? 0;
    this.inc(errors);
  },
});

const POOL_METRIC = 'echo_db_pool_connections';
/** Registered only once a MySQL data source is added: absent in embedded (SQLite) mode. */
const dbPoolConnections = new Gauge({
  name: POOL_METRIC,
  help: 'mysql2 pool connections of this process: open (idle + in use), idle, and requests waiting for one.',
  labelNames: ['state'] as const,
  registers: [],
  collect() {
    this.reset();
    const total = { open: 0, idle: 0, waiting: 0 };
    let any = false;
    for (const { dataSource } of sources) {
      if (!dataSource?.isInitialized) continue;
      const stats = poolStats(dataSource);
      if (!stats) continue;
      any = true;
      total.open += stats.open;
      total.idle += stats.idle;
      total.waiting += stats.waiting;
    }
    if (any) for (const [state, n] of Object.entries(total)) this.set({ state }, n);
  },
});

const QUEUE_READ_TIMEOUT_MS = 1000;
let queueRead: Promise<Record<string, Record<string, number>> | undefined> | undefined;
let ageRead: Promise<Record<string, number> | undefined> | undefined;

new Gauge({
  name: 'echo_queue_jobs',
  help: 'Jobs per queue and state (waiting, active, completed, failed, delayed); absent while Redis does not answer.',
  labelNames: ['queue', 'state'] as const,
  // Every process reads the same queues: the cluster aggregation must not add them up.
  aggregator: 'max',
  registers: [registry],
  async collect() {
    // One read in flight at a time: a worker's Redis client queues commands while Redis is away.
    queueRead ??= readFirst((s) => s.queueCounts).finally(() => (queueRead = undefined));
    const counts = await queueRead;
    this.reset();
    for (const [queue, states] of Object.entries(counts ?? {})) {
      for (const [state, n] of Object.entries(states)) this.set({ queue, state }, n);
    }
  },
});

new Gauge({
  name: 'echo_queue_oldest_waiting_seconds',
  help: 'Per queue, seconds the job next in line has waited (since it was added or its delay ended; a retried job since its last attempt began); 0 when none waits; absent while Redis does not answer.',
  labelNames: ['queue'] as const,
  // The same queues in every process, as echo_queue_jobs.
  aggregator: 'max',
  registers: [registry],
  async collect() {
    ageRead ??= readFirst((s) => s.queueOldestWaiting).finally(() => (ageRead = undefined));
    const ages = await ageRead;
    this.reset();
    for (const [queue, seconds] of Object.entries(ages ?? {})) this.set({ queue }, seconds);
  },
});

/** The first source's reading, bounded by QUEUE_READ_TIMEOUT_MS; undefined if none answers in time. */
async function readFirst<T>(pick: (source: MetricsSource) => (() => Promise<T>) | undefined): Promise<T | undefined> {
  for (const source of sources) {
    const read = pick(source);
    if (!read) continue;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        read(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), QUEUE_READ_TIMEOUT_MS);
        }),
      ]);
    } catch {
      // Redis down or slow: leave the gauge empty rather than report stale numbers.
    } finally {
      clearTimeout(timer);
    }
  }
  return undefined;
}

const EVENT_STREAMS_METRIC = 'echo_event_streams_open';
/** Registered once an app with live event streams (the API) adds its source: absent in the worker. */
const eventStreamsOpen = new Gauge({
  name: EVENT_STREAMS_METRIC,
  help: 'Server-Sent Event streams (GET /api/visual-analysis/events) this API process has open.',
  // Per process: the cluster primary adds its workers' streams up.
  aggregator: 'sum',
  registers: [],
  collect() {
    let open = 0;
    for (const source of sources) open += source.eventStreamsOpen?.() ?? 0;
    this.set(open);
  },
});
