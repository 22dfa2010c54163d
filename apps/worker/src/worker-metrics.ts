import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { addNestMetricsSource, markProcess, registry, startMetricsServer, type MetricsServer } from '@echo/metrics';
import { VisualAnalysisService } from '@echo/visual-analysis';

/**
 * The worker's metrics: its data source, cache and queues feed the scrape-time metrics, and a
 * bare node:http server answers `GET /metrics` on METRICS_HOST:WORKER_METRICS_PORT (0 = off),
 * with the same access rule as the API's (METRICS_TOKEN, else loopback only). A port already in
 * use is logged, not fatal: jobs matter more than their metrics.
 */
@Injectable()
export class WorkerMetrics implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('WorkerMetrics');
  private detach?: () => void;
  private server?: MetricsServer;

  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly analyses: VisualAnalysisService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    markProcess('worker');
    this.detach = addNestMetricsSource(this.moduleRef, {
      counts: () => this.analyses.queueCounts(),
      oldestWaiting: () => this.analyses.queueOldestWaiting(),
    });
    const { host, workerPort, token } = this.config.metrics;
    if (!workerPort) return;
    try {
      this.server = await startMetricsServer({
        host,
        port: workerPort,
        token,
        render: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
      });
      this.logger.log(
        `metrics on http://${host}:${this.server.port}/metrics${token ? ' (METRICS_TOKEN required)' : ' (loopback clients only)'}`,
      );
    } catch (err) {
      this.logger.warn(`metrics server not started on ${host}:${workerPort}: ${(err as Error).message}`);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.detach?.();
    await this.server?.close();
  }
}
