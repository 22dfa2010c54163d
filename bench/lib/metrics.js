// Prometheus text scraping (the API primary's aggregated /metrics, the worker's metrics server)
// and the sampler that tracks peak MariaDB connections and peak RSS while a load runs.
import mysql from 'mysql2/promise';
import { childPids, rssMb } from './processes.js';

/**
 * Parses the Prometheus text format into samples {name, labels, value}; `samples.declared` holds
 * the names with a `# TYPE` line (a labelled counter nobody incremented yet has no samples).
 */
export function parsePrometheus(text) {
  const samples = [];
  samples.declared = new Set();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+)/.exec(line);
    if (type) samples.declared.add(type[1]);
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** Sum of a metric's samples whose labels match `filter`: 0 when declared without samples, null when absent. */
export function sumMetric(samples, name, filter = {}) {
  if (!samples) return null;
  const hits = samples.filter((s) => s.name === name && Object.entries(filter).every(([k, v]) => s.labels[k] === v));
  if (hits.length) return hits.reduce((acc, s) => acc + s.value, 0);
  return samples.declared?.has(name) ? 0 : null;
}

/** Scrapes one /metrics URL; null when it does not answer 200 (not built yet, wrong token, …). */
export async function scrape(url, token) {
  try {
    const res = await fetch(url, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(5000),
    });
    if (res.status !== 200) return null;
    return parsePrometheus(await res.text());
  } catch {
    return null;
  }
}

/** The counters the harness compares before/after a run. Every field may be null (metric absent). */
export async function counters(url, token) {
  const samples = url ? await scrape(url, token) : null;
  return {
    available: samples !== null,
    dbQueries: sumMetric(samples, 'echo_db_queries_total'),
    cacheHits: sumMetric(samples, 'echo_cache_requests_total', { result: 'hit' }),
    cacheMisses: sumMetric(samples, 'echo_cache_requests_total', { result: 'miss' }),
    // Commands that failed or took longer than CACHE_COMMAND_TIMEOUT_MS: served as misses (fail open).
    cacheErrors: sumMetric(samples, 'echo_cache_errors_total'),
    serverBuckets: durationBuckets(samples),
  };
}

/** Cumulative counts of echo_http_request_duration_seconds by bucket (`le`), all routes but /metrics. */
function durationBuckets(samples) {
  if (!samples) return null;
  const buckets = new Map();
  for (const s of samples) {
    if (s.name !== 'echo_http_request_duration_seconds_bucket' || s.labels.route === '/metrics') continue;
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + s.value);
  }
  return buckets.size ? buckets : null;
}

/**
 * What the API itself measured during a run (request in → response out, no client or network
 * queueing): the p99 interpolated in the histogram's bucket, and how many responses took over 5 s.
 */
export function serverLatency(before, after) {
  if (!before?.serverBuckets || !after?.serverBuckets) return { p99Ms: null, over5s: null };
  const bounds = [...after.serverBuckets.keys()].sort((a, b) => a - b);
  const cumulative = bounds.map((le) => after.serverBuckets.get(le) - (before.serverBuckets.get(le) ?? 0));
  const total = cumulative.at(-1);
  if (!total) return { p99Ms: null, over5s: 0 };
  const over5s = total - cumulative[bounds.indexOf(5)];
  const rank = total * 0.99;
  const i = cumulative.findIndex((c) => c >= rank);
  const upper = bounds[i];
  if (upper === Infinity) return { p99Ms: Infinity, over5s };
  const lower = i > 0 ? bounds[i - 1] : 0;
  const below = i > 0 ? cumulative[i - 1] : 0;
  const p99 = lower + ((upper - lower) * (rank - below)) / (cumulative[i] - below);
  return { p99Ms: p99 * 1000, over5s };
}

/** Requests the API answered between two counters() (every route but /metrics), or null. */
export function servedRequests(before, after) {
  if (!before?.serverBuckets || !after?.serverBuckets) return null;
  return (after.serverBuckets.get(Infinity) ?? 0) - (before.serverBuckets.get(Infinity) ?? 0);
}

export const delta = (after, before, key) =>
  after?.[key] == null || before?.[key] == null ? null : after[key] - before[key];

/**
 * Every `intervalMs`: MariaDB Threads_connected (own connection) and VmRSS of the watched
 * processes (the API primary, its children found anew each time, the worker). Keeps peaks.
 */
export class Sampler {
  constructor(serverUrl, intervalMs = 250) {
    this.serverUrl = serverUrl;
    this.intervalMs = intervalMs;
    this.conn = null;
  }

  async open() {
    this.conn = await mysql.createConnection({ uri: this.serverUrl });
  }

  async close() {
    await this.conn?.end().catch(() => undefined);
    this.conn = null;
  }

  async threadsConnected() {
    const [rows] = await this.conn.query("SHOW GLOBAL STATUS LIKE 'Threads_connected'");
    return Number(rows[0].Value);
  }

  /**
   * Starts sampling; `processes` = {primary: pid, worker: pid}; with `metrics` = {url, token},
   * also the API's pool gauge (echo_db_pool_connections) once a second.
   * Returns {peaks (live), stop() → peaks}.
   */
  start(processes, metrics = null) {
    const peaks = { threads: null, primary: null, apiWorkers: {}, worker: null, poolOpen: null, poolWaiting: null };
    const poolTimer = metrics?.url
      ? setInterval(async () => {
          const samples = await scrape(metrics.url, metrics.token);
          const open = sumMetric(samples, 'echo_db_pool_connections', { state: 'open' });
          const waiting = sumMetric(samples, 'echo_db_pool_connections', { state: 'waiting' });
          if (open !== null) peaks.poolOpen = Math.max(peaks.poolOpen ?? 0, open);
          if (waiting !== null) peaks.poolWaiting = Math.max(peaks.poolWaiting ?? 0, waiting);
        }, 1000)
      : null;
    let busy = false;
    const sample = async () => {
      if (busy) return;
      busy = true;
      try {
        const threads = await this.threadsConnected().catch(() => null);
        if (threads !== null) peaks.threads = Math.max(peaks.threads ?? 0, threads);
        const keep = (current, value) => (value === null ? current : Math.max(current ?? 0, value));
        if (processes.primary) {
          peaks.primary = keep(peaks.primary, rssMb(processes.primary));
          for (const pid of childPids(processes.primary))
            peaks.apiWorkers[pid] = keep(peaks.apiWorkers[pid] ?? null, rssMb(pid));
        }
        if (processes.worker) peaks.worker = keep(peaks.worker, rssMb(processes.worker));
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(sample, this.intervalMs);
    void sample();
    return {
      peaks,
      stop: async () => {
        clearInterval(timer);
        if (poolTimer) clearInterval(poolTimer);
        while (busy) await new Promise((r) => setTimeout(r, 10));
        await sample();
        return peaks;
      },
    };
  }
}
