import type { INestApplicationContext } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CacheService } from '@echo/cache';
import { addMetricsSource } from './metrics.js';

/**
 * Registers a Nest app's data source and cache for the scrape-time metrics, plus its queue counts
 * reader (VisualAnalysisService.queueCounts, passed in: this lib does not depend on feature libs).
 * Returns the removal, to call when the app closes.
 */
export function addNestMetricsSource(
  app: Pick<INestApplicationContext, 'get'>,
  queueCounts?: () => Promise<Record<string, Record<string, number>>>,
): () => void {
  const find = <T>(token: abstract new (...args: never[]) => T): T | undefined => {
    try {
      return app.get(token, { strict: false });
    } catch {
      return undefined;
    }
  };
  return addMetricsSource({ dataSource: find(DataSource), cache: find(CacheService), queueCounts });
}
