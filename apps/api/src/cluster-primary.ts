import cluster, { type Worker } from 'node:cluster';
import { pino } from 'pino';
import type { AppConfig } from '@echo/config';
import { ClusterMetrics, startMetricsServer, type MetricsServer } from '@echo/metrics';

/** A worker that ran this long before exiting was healthy: the back-off starts over. */
const STABLE_AFTER_MS = 30_000;
/** SIGTERM → drained workers; past this, the rest are SIGKILLed and the primary exits 1. */
const DRAIN_TIMEOUT_MS = 30_000;

/** Delay before replacing a crashed worker: 0.5 s, 1 s, 2 s, … up to 30 s for crashes in a row. */
export function restartDelayMs(crashesInARow: number): number {
  return Math.min(30_000, 500 * 2 ** Math.max(0, crashesInARow - 1));
}

/**
 * Workers accept connections from the shared socket themselves (SCHED_NONE) instead of the
 * primary handing them out (SCHED_RR, Node's default). Round-robin hands a worker one connection
 * per IPC round trip through that worker's event loop, so a burst of new connections to busy
 * workers queues in the primary (measurements: docs/operations.md, Process scaling).
 * NODE_CLUSTER_SCHED_POLICY set by the operator still wins.
 */
export function acceptInWorkers(): void {
  if (!process.env.NODE_CLUSTER_SCHED_POLICY) cluster.schedulingPolicy = cluster.SCHED_NONE;
}

/**
 * The V8 flags each forked API worker starts with (API_HEAP_LIMIT_MB, API_SEMI_SPACE_MB): without
 * a limit V8 sizes the heap from the machine's memory and collects lazily, so a process holds far
 * more than it uses (and the Buffers its garbage keeps alive). A flag the operator already set, in
 * NODE_OPTIONS or on the command line, is left alone.
 */
export function workerV8Flags(
  processes: AppConfig['processes'],
  given: string[] = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)],
): string[] {
  const isSet = (flag: string) => given.some((arg) => arg.replace(/_/g, '-').startsWith(`--${flag}`));
  const flags: string[] = [];
  if (processes.heapLimitMb && !isSet('max-old-space-size'))
    flags.push(`--max-old-space-size=${processes.heapLimitMb}`);
  if (processes.semiSpaceMb && !isSet('max-semi-space-size'))
    flags.push(`--max-semi-space-size=${processes.semiSpaceMb}`);
  return flags;
}

/**
 * glibc malloc settings for each forked API worker (read at process start); the operator's own
 * values win.
 * - MALLOC_ARENA_MAX=2: by default one arena per thread that allocates (libuv's pool, V8's GC
 *   helpers), each holding on to what it once used. Measured at 100–1000 connections: 2 arenas
 *   kept each worker 40–50 MB smaller (179–225 MB against 243–266 MB RSS), same throughput.
 * - MALLOC_MMAP_THRESHOLD_=131072: a fixed threshold, so blocks from 128 KB up always come from
 *   mmap and go back to the system when freed. glibc's default raises the threshold to the
 *   largest block freed so far, and argon2's 19 MB per password hash then stayed in the heap:
 *   40 logins took a process from 139 to 178 MB for good (133 → 135 MB with the fixed threshold).
 */
export function workerMallocEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return {
    MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX || '2',
    MALLOC_MMAP_THRESHOLD_: env.MALLOC_MMAP_THRESHOLD_ || '131072',
  };
}

/**
 * The node:cluster primary of API_WORKERS > 1: it serves no HTTP itself (the workers share PORT
 * and accept from it themselves: see acceptInWorkers), and
 * - forks the workers, passing the effective API_WORKERS in their environment;
 * - replaces a worker that exits unexpectedly, with a back-off (restartDelayMs) so a crash loop
 *   does not spin;
 * - on SIGTERM/SIGINT sends SIGTERM to every worker (each drains: in-flight requests finish,
 *   pools close) and exits 0 once all have exited cleanly (1 if one failed, or had to be
 *   SIGKILLed after 30 s);
 * - serves all workers' metrics, aggregated, on METRICS_HOST:METRICS_PORT/metrics (0 = off),
 *   with the same access rule as /metrics (METRICS_TOKEN, else loopback clients only).
 */
export function runPrimary(config: AppConfig, count: number): void {
  acceptInWorkers();
  cluster.setupPrimary({ execArgv: [...process.execArgv, ...workerV8Flags(config.processes)] });
  const log = pino({ level: config.http.logLevel, base: { app: 'api', role: 'primary', pid: process.pid } });
  const metrics = new ClusterMetrics();
  const alive = new Map<Worker, number>(); // worker → fork time
  const listening = new Set<Worker>();
  const restarts = new Set<NodeJS.Timeout>();
  let crashesInARow = 0;
  let shuttingDown = false;
  let unclean = false;
  let drainTimer: NodeJS.Timeout | undefined;
  let announced = false;
  let metricsServer: MetricsServer | undefined;

  const gauge = () => {
    metrics.workers.set({ state: 'online' }, alive.size);
    metrics.workers.set({ state: 'listening' }, listening.size);
  };
  const fork = () => {
    alive.set(cluster.fork({ API_WORKERS: String(count), ...workerMallocEnv() }), Date.now());
    gauge();
  };

  cluster.on('listening', (worker) => {
    listening.add(worker);
    gauge();
    if (!announced && listening.size === count) {
      announced = true;
      const shown = config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host;
      console.log(
        `Echo API listening on http://${shown}:${config.http.port} — ${count} worker processes (API_WORKERS) — docs at /docs` +
          (metricsServer
            ? ` — all workers' metrics on http://${config.metrics.host}:${metricsServer.port}/metrics`
            : ''),
      );
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    const lived = Date.now() - (alive.get(worker) ?? Date.now());
    alive.delete(worker);
    listening.delete(worker);
    gauge();
    if (shuttingDown) {
      // Drained workers exit 0; one still booting may die of the SIGTERM itself (nothing to drain).
      if (code !== 0 && signal !== 'SIGTERM') unclean = true;
      if (!alive.size) void finish();
      return;
    }
    crashesInARow = lived >= STABLE_AFTER_MS ? 1 : crashesInARow + 1;
    const delay = restartDelayMs(crashesInARow);
    log.error(
      { worker_pid: worker.process.pid, code, signal, lived_ms: lived, restart_in_ms: delay },
      'API worker exited unexpectedly; replacing it',
    );
    metrics.restarts.inc();
    const timer = setTimeout(() => {
      restarts.delete(timer);
      if (!shuttingDown) fork();
    }, delay);
    restarts.add(timer);
  });

  const shutdown = (signal: NodeJS.Signals) => {
    if (shuttingDown) return;
    shuttingDown = true;
    for (const timer of restarts) clearTimeout(timer);
    log.info({ signal, workers: alive.size }, 'shutting down: draining API workers');
    // A signal, not worker.kill(): that disconnects IPC first, and a disconnected worker exits at once.
    for (const worker of alive.keys()) worker.process.kill('SIGTERM');
    drainTimer = setTimeout(() => {
      log.error({ workers: alive.size }, `API workers still running after ${DRAIN_TIMEOUT_MS} ms: killing them`);
      for (const worker of alive.keys()) worker.process.kill('SIGKILL');
    }, DRAIN_TIMEOUT_MS);
    if (!alive.size) void finish();
  };

  const finish = async () => {
    clearTimeout(drainTimer);
    await metricsServer?.close();
    log.info('all API workers exited');
    process.exit(unclean ? 1 : 0);
  };

  // Terminal Ctrl-C reaches the workers too; each ignores a second signal while it drains.
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  const start = async () => {
    if (config.metrics.port) {
      try {
        metricsServer = await startMetricsServer({
          host: config.metrics.host,
          port: config.metrics.port,
          token: config.metrics.token,
          render: () => metrics.render(),
        });
      } catch (err) {
        log.warn(
          `aggregated metrics server not started on ${config.metrics.host}:${config.metrics.port}: ${(err as Error).message}`,
        );
      }
    }
    log.info({ workers: count }, 'forking API workers');
    for (let i = 0; i < count && !shuttingDown; i++) fork();
  };
  void start();
}
