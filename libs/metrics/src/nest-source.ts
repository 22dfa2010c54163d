import type { INestApplicationContext } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CacheService } from '@echo/cache';
import { addMetricsSource } from './metrics.js';

/** What the queue gauges read (VisualAnalysisService's, passed in: this lib does not depend on feature libs). */
export interface QueueReadings {
  counts: () => Promise<Record<string, Record<string, number>>>;
  oldestWaiting: () => Promise<Record<string, number>>;
}

/**
 * Registers a Nest app's data source and cache for the scrape-time metrics, plus its queue
 * readings. Returns the removal, to call when the app closes.
 */
export function addNestMetricsSource(app: Pick<INestApplicationContext, 'get'>, queues?: QueueReadings): () => void {
  const find = <T>(token: abstract new (...args: never[]) => T): T | undefined => {
    try {
      return app.get(token, { strict: false });
    } catch {
      return undefined;
    }
  };
  return addMetricsSource({
    dataSource: find(DataSource),
    cache: find(CacheService),
    queueCounts: queues?.counts,
    queueOldestWaiting: queues?.oldestWaiting,
  });
}
