import { Global, Inject, Logger, Module, type DynamicModule, type OnApplicationBootstrap } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '@echo/config';
import { buildDataSourceOptions } from './data-source.options.js';
import { assertReadRetryShape, installReadRetry } from './connection-retry.js';
import { assertPoolShape, mysqlPools } from './pool-stats.js';
import { boundPoolWait } from './pool-wait.js';
import { assertReplicationShape } from './replication.js';

@Global()
@Module({})
export class DatabaseModule implements OnApplicationBootstrap {
  private readonly logger = new Logger('Database');

  constructor(
    private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  static forRoot(config: AppConfig): DynamicModule {
    installReadRetry();
    return {
      module: DatabaseModule,
      imports: [
        TypeOrmModule.forRootAsync({
          useFactory: () => ({
            ...buildDataSourceOptions(config),
            autoLoadEntities: true,
            retryAttempts: 3,
            retryDelay: 1000,
          }),
        }),
      ],
    };
  }

  /** Keep idle connections below the server's wait_timeout, so the server never closes them first. */
  async onApplicationBootstrap(): Promise<void> {
    const pools = mysqlPools(this.dataSource);
    if (!pools.length) return;
    // Library internals Echo patches or reads: fail start-up, naming the version, if one moved.
    assertPoolShape(this.dataSource);
    assertReplicationShape(this.dataSource);
    await assertReadRetryShape(this.dataSource);
    boundPoolWait(this.dataSource, this.config.database.waitTimeoutMs);
    const pool = pools[0].pool;
    const [row] = (await this.dataSource.query(
      'SELECT @@wait_timeout AS wait_timeout, @@max_connections AS max_connections',
    )) as {
      wait_timeout: number;
      max_connections: number;
    }[];
    const ceiling = Math.max(1000, (Number(row.wait_timeout) - 30) * 1000);
    if (pool.config.idleTimeout > ceiling) {
      this.logger.warn(
        `DB_IDLE_TIMEOUT_MS ${pool.config.idleTimeout} ≥ server wait_timeout ${row.wait_timeout}s: using ${ceiling} ms`,
      );
      // Replica pools too (they are expected to share the primary's settings; they only ever read, and a read is retried).
      for (const { pool: each } of pools) each.config.idleTimeout = ceiling;
    }
    const replicas = pools.length - 1;
    this.logger.log(
      `MySQL pool: ${this.config.database.poolSize} connections per process${replicas ? ` to the primary and to each of ${replicas} read replicas` : ''}, ` +
        `idle kept ${pool.config.idleTimeout} ms, wait queue ${this.config.database.queueLimit} for at most ${this.config.database.waitTimeoutMs || '∞'} ms; server max_connections ${row.max_connections}`,
    );
  }
}
