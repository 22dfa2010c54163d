import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import { registry } from './metrics.js';

/**
 * In a node:cluster worker: answer the primary's requests for this process's metrics
 * (prom-client's AggregatorRegistry listens on the IPC channel once one is constructed).
 */
export function answerClusterMetricsRequests(): void {
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry();
}

/**
 * In the cluster primary: every worker's metrics aggregated (counters and histograms summed,
 * gauges by their aggregator), plus the primary's own view of its workers.
 */
export class ClusterMetrics {
  private readonly aggregator = new AggregatorRegistry();
  /** The primary's own metrics only (no default process metrics: those come from the workers). */
  private readonly own = new Registry();
  readonly workers = new Gauge({
    name: 'echo_cluster_workers',
    help: 'API worker processes known to the cluster primary, by state (online: forked and running, listening: accepting connections).',
    labelNames: ['state'] as const,
    registers: [this.own],
  });
  readonly restarts = new Counter({
    name: 'echo_cluster_worker_restarts_total',
    help: 'API worker processes the cluster primary replaced after they exited unexpectedly.',
    registers: [this.own],
  });

  async render(): Promise<{ contentType: string; body: string }> {
    const [workers, own] = await Promise.all([this.aggregator.clusterMetrics(), this.own.metrics()]);
    const joined = workers && !workers.endsWith('\n') ? `${workers}\n` : workers;
    return { contentType: this.own.contentType, body: `${joined}${own}` };
  }
}
