import { Module, type DynamicModule } from '@nestjs/common';
import { ConfigModule, type AppConfig } from '@echo/config';
import { DatabaseModule } from '@echo/database';
import { CacheModule } from '@echo/cache';
import { QueueModule } from '@echo/queue';
import { loggingModule } from '@echo/http';
import { StorageModule } from '@echo/storage';
import { UsersModule } from '@echo/users';
import { UploadsModule } from '@echo/uploads';
import { VisualAnalysisModule } from '@echo/visual-analysis';
import { AccountDataModule } from '@echo/account-data';
import { WorkerMetrics } from './worker-metrics.js';

/** The worker app: queue consumers against the same database and Redis as the API. */
@Module({})
export class WorkerModule {
  static register(config: AppConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        ConfigModule.forRoot(config),
        loggingModule(config, 'worker'),
        DatabaseModule.forRoot(config),
        CacheModule.forRoot(config),
        QueueModule.forRoot(config, 'consumer'),
        StorageModule.forRoot(config),
        UsersModule.register(config, { http: false }),
        // The orphan sweep runs as a maintenance job here, not on a timer.
        UploadsModule.register({ http: false, sweep: false }),
        VisualAnalysisModule.register(config, 'worker'),
        AccountDataModule.register(config, 'worker'),
      ],
      providers: [WorkerMetrics],
    };
  }
}
