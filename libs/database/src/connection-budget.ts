import { isMysql } from './transaction.js';
import { Logger, type INestApplicationContext } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { AppConfig } from '@echo/config';

/**
 * Server connections all Echo processes may open, against the server's max_connections.
 */
export interface ConnectionBudget {
  /** Connections all Echo processes may open: (API_WORKERS + DB_EXPECTED_WORKER_COPIES) × DB_POOL_SIZE. */
  needed: number;
  maxConnections: number;
  /** needed / max_connections. */
  ratio: number;
  /** More than 90 % of max_connections: no room left for migrations, admin sessions, a deploy's overlap. */
  over: boolean;
  formula: string;
}

export function connectionBudget(input: {
  apiWorkers: number;
  workerCopies: number;
  poolSize: number;
  maxConnections: number;
}): ConnectionBudget {
  const { apiWorkers, workerCopies, poolSize, maxConnections } = input;
  const needed = apiWorkers * poolSize + workerCopies * poolSize;
  const ratio = maxConnections > 0 ? needed / maxConnections : Infinity;
  const formula =
    `API_WORKERS (${apiWorkers}) × DB_POOL_SIZE (${poolSize}) + DB_EXPECTED_WORKER_COPIES (${workerCopies}) × DB_POOL_SIZE (${poolSize}) ` +
    `= ${needed} connections of max_connections ${maxConnections} (${Math.round(ratio * 100)} %)`;
  return { needed, maxConnections, ratio, over: ratio > 0.9, formula };
}

/**
 * Start-up check that all Echo processes together stay under the server's max_connections:
 * (API_WORKERS + DB_EXPECTED_WORKER_COPIES) × DB_POOL_SIZE. A warning over 90 %, an info line
 * otherwise; never fatal. No-op on SQLite. `apiWorkers` is the effective API process count.
 */
export async function checkConnectionBudget(
  app: Pick<INestApplicationContext, 'get'>,
  config: AppConfig,
  apiWorkers: number,
): Promise<void> {
  const logger = new Logger('Database');
  try {
    const dataSource = app.get(DataSource, { strict: false });
    if (!isMysql(dataSource)) return;
    const [row] = (await dataSource.query('SELECT @@max_connections AS max_connections')) as {
      max_connections: number;
    }[];
    const budget = connectionBudget({
      apiWorkers,
      workerCopies: config.database.expectedWorkerCopies,
      poolSize: config.database.poolSize,
      maxConnections: Number(row.max_connections),
    });
    if (budget.over) {
      logger.warn(
        `connection budget over 90 % of max_connections: ${budget.formula}. Lower DB_POOL_SIZE or API_WORKERS, ` +
          'or raise the server\'s max_connections; under load, processes will get "Too many connections".',
      );
    } else {
      logger.log(`connection budget: ${budget.formula}`);
    }
  } catch (err) {
    logger.warn(`connection budget check skipped: ${(err as Error).message}`);
  }
}
