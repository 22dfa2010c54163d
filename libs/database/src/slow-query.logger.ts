import { Logger } from '@nestjs/common';
import type { Logger as TypeOrmLogger } from 'typeorm';

let queriesSent = 0;

/**
 * SQL statements this process has sent (all data sources): TypeORM calls logQuery before every
 * query. Read by the metrics lib (echo_db_queries_total).
 */
export function dbQueriesSent(): number {
  return queriesSent;
}

/** Logs only what operators need: slow queries (SQL + duration) and failed ones, never parameters. */
export class SlowQueryLogger implements TypeOrmLogger {
  private readonly logger = new Logger('Database');

  logQuery(): void {
    queriesSent++;
  }
  logQuerySlow(time: number, query: string): void {
    this.logger.warn({ msg: 'slow query', duration_ms: time, sql: query });
  }
  logQueryError(error: string | Error, query: string): void {
    this.logger.debug({ msg: 'query failed', error: error instanceof Error ? error.message : error, sql: query });
  }
  logSchemaBuild(): void {}
  logMigration(message: string): void {
    this.logger.log(message);
  }
  log(level: 'log' | 'info' | 'warn', message: unknown): void {
    if (level === 'warn') this.logger.warn(message);
  }
}
